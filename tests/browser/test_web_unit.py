"""The web app's own checks, so that `make test` runs them: Vitest component tests and eslint
(the strict type check is part of `npm run build`, which set-up runs before the tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "command",
    [["npx", "vitest", "run"], ["npx", "eslint", ".", "--max-warnings", "0"]],
    ids=["vitest", "eslint"],
)
def test_web_checks(web_ready: Path, command: list[str]) -> None:
    done = subprocess.run(command, cwd=web_ready, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"{' '.join(command)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    )
