# The image of the HTTP functions (api, webhooks, dispatch): functions-framework serving one
# target of functions/main.py per Cloud Run service, chosen by FUNCTION_TARGET (terraform sets
# it). No sandbox tooling here — only the job image runs repository code.
#
# Build from the repository root:
#   docker build -f deploy/functions.Dockerfile -t functions .
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# The locked dependencies first, so a code change does not reinstall them.
WORKDIR /opt/errand/src
COPY requirements.lock ./
RUN python -m venv /opt/errand/venv \
 && /opt/errand/venv/bin/pip install -q --upgrade pip \
 && /opt/errand/venv/bin/pip install -q -r requirements.lock
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY jobs ./jobs
COPY functions ./functions
RUN /opt/errand/venv/bin/pip install -q -c requirements.lock . \
 && cd / && rm -rf /opt/errand/src \
 && /opt/errand/venv/bin/python -c "import functions.main"

ENV PATH=/opt/errand/venv/bin:$PATH \
    FUNCTIONS_SOURCE=/opt/errand/venv/lib/python3.11/site-packages/functions/main.py
WORKDIR /
# an unprivileged user: the functions need no root
USER 65532:65532
EXPOSE 8080
CMD ["sh", "-c", "exec functions-framework --source=\"$FUNCTIONS_SOURCE\" --target=\"$FUNCTION_TARGET\" --port=\"${PORT:-8080}\""]
