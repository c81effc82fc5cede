#!/usr/bin/env bash
# uv, for first Python installs in the sandbox (shared/testsuite.py: a venv plus `uv pip install`,
# many times faster than `python -m venv` plus pip; pip stays the fallback where uv is absent).
# The sandbox mounts the host's /usr read-only, so the binary goes to /usr/local/bin, where
# sandboxed commands find it. Idempotent: nothing happens when the pinned version is there.
set -euo pipefail
UV_VERSION=0.9.30
target=/usr/local/bin/uv
if [ -x "$target" ] && [ "$("$target" --version 2>/dev/null | cut -d' ' -f2)" = "$UV_VERSION" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The wheel on PyPI carries the static binary; pip only downloads it, nothing is installed.
"${PIP:-.venv/bin/pip}" download -q --no-deps --only-binary :all: -d "$work" "uv==$UV_VERSION"
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
  "$work"/uv-*.whl "$work/x"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO install -m 0755 "$work"/x/uv-"$UV_VERSION".data/scripts/uv "$target"
echo "setup: installed uv $UV_VERSION at $target"
