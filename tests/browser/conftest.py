"""Browser tests need the built web app, its node packages and Chromium: scripts/setup.d/60-web.sh
installs them (make test runs it first)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
ARTIFACTS = WEB / "test-artifacts"


@pytest.fixture(scope="session")
def web_ready() -> Path:
    missing = [
        what
        for what, ok in (
            ("web/node_modules (npm ci)", (WEB / "node_modules").is_dir()),
            ("web/dist (npm run build)", (WEB / "dist" / "index.html").is_file()),
            ("node", shutil.which("node") is not None),
            ("/usr/bin/chromium (apt-get install chromium)", Path("/usr/bin/chromium").exists()),
        )
        if not ok
    ]
    if missing:
        pytest.fail(
            "the browser tests need " + ", ".join(missing) + " — run scripts/setup.sh (make test)"
        )
    return WEB
