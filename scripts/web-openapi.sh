#!/usr/bin/env bash
# Writes the API's OpenAPI description for the web app (web/src/api/openapi.json) from the route
# table, without starting anything; `npm run build` turns it into web/src/api/schema.d.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PYTHONPATH=$PWD "$PY" -c 'import json; from functions.handlers import TABLE; from functions.openapi import document; print(json.dumps(document(TABLE), indent=2, sort_keys=True))' > web/src/api/openapi.json
