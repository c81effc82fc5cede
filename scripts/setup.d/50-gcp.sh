#!/usr/bin/env bash
# Google Cloud emulators for the cloud adapters' tests and `errand emulators`:
# - Firestore: npm @firestore-emulator/server, in .gcp-emulators/ (project-local, git-ignored)
# - Cloud Tasks: PyPI gcloud-tasks-emulator in .venv-tasks-emulator/ (it pins protobuf<5)
# - Cloud Storage: PyPI gcp-storage-emulator, in the project venv (its only pin is
#   google-crc32c, which the storage client needs anyway: installed with '.[dev]')
# Idempotent: each part runs only when its stamp is older than this script.
set -euo pipefail
cd "$(dirname "$0")/../.."
script=scripts/setup.d/50-gcp.sh

FIRESTORE_EMULATOR_VERSION=0.3.15
TASKS_EMULATOR_VERSION=0.6.2

stamp=.gcp-emulators/.installed
if [ ! -f "$stamp" ] || [ "$script" -nt "$stamp" ]; then
  echo "setup: installing @firestore-emulator/server into .gcp-emulators/"
  mkdir -p .gcp-emulators
  [ -f .gcp-emulators/package.json ] || echo '{"private": true}' > .gcp-emulators/package.json
  npm install --prefix .gcp-emulators --no-audit --no-fund --silent \
    "@firestore-emulator/server@${FIRESTORE_EMULATOR_VERSION}" >/dev/null
  touch "$stamp"
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
stamp=.venv-tasks-emulator/.installed
if [ ! -f "$stamp" ] || [ "$script" -nt "$stamp" ]; then
  echo "setup: installing gcloud-tasks-emulator into .venv-tasks-emulator/"
  [ -x .venv-tasks-emulator/bin/python ] || "$PY" -m venv .venv-tasks-emulator
  .venv-tasks-emulator/bin/pip install -q "gcloud-tasks-emulator==${TASKS_EMULATOR_VERSION}"
  touch "$stamp"
fi
