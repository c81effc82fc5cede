"""End-to-end helpers: run the real `errand` CLI in a subprocess on a private home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from shared import paths
from shared.adapters.workspace_fs import release

ERRAND = [sys.executable, "-m", "shared.cli"]
ROOT = Path(__file__).resolve().parents[2]


def errand_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    env.update({"ERRAND_HOME": str(home), "ERRAND_SPEECH": "piper", "PYTHONPATH": str(ROOT)})
    # the fake models have no litellm price; a configured one keeps the USD budget enforceable
    env["ERRAND_MODEL_PRICE"] = "1.5,6"
    env.update(extra or {})
    return env


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def errand(tmp_path: Path) -> Iterator[Runner]:
    home = tmp_path / "home"

    def run(
        *args: str, env: Mapping[str, str] | None = None, timeout: float = 300, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ERRAND, *args],
            env=errand_env(home, env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            input=stdin,
        )

    yield run
    release_workspaces(home)


def release_workspaces(home: Path) -> None:
    """Tasks a test leaves at a gate keep their (mounted) workspaces, as they should; the test
    home is thrown away, so unmount them."""
    root = paths.workspace(home, "x").parent
    for ws in root.iterdir() if root.exists() else []:
        if ws.suffix != ".img":
            release(ws)


def final_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.stdout.strip(), f"no JSON on stdout; stderr:\n{proc.stderr[-3000:]}"
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"stdout is not one JSON object:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        ) from None
    assert isinstance(data, dict)
    return data
