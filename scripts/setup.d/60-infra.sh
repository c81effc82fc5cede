#!/usr/bin/env bash
# checkov for the offline terraform checks (tests/infra): in its own venv, because it pins many
# packages that clash with the project's. Quick the second time: a stamp records the version.
set -euo pipefail
CHECKOV_VERSION=3.2.533
VENV=.venv-checkov
stamp="$VENV/.installed-$CHECKOV_VERSION"
[ -f "$stamp" ] && exit 0

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
echo "setup: installing checkov $CHECKOV_VERSION into $VENV"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "checkov==$CHECKOV_VERSION"
rm -f "$VENV"/.installed-*
touch "$stamp"
