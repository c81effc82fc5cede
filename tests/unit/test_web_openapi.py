"""The web app's API types are generated from web/src/api/openapi.json: it must be the document
the route table describes today."""

from __future__ import annotations

import json
from pathlib import Path

from functions.handlers import TABLE
from functions.openapi import document

COMMITTED = Path(__file__).resolve().parents[2] / "web" / "src" / "api" / "openapi.json"


def test_the_web_apps_openapi_copy_is_current() -> None:
    current = json.dumps(document(TABLE), indent=2, sort_keys=True) + "\n"
    assert COMMITTED.read_text() == current, (
        "web/src/api/openapi.json is stale: run scripts/web-openapi.sh (then npm run build in web/)"
    )
