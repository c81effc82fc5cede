"""A second task on the same repository skips the dependency install."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import paths
from shared.adapters.sqlite_store import SqliteStore
from tests.e2e.conftest import Runner, final_json

pytestmark = pytest.mark.e2e


def logs(home: Path, task_id: str) -> str:
    store = SqliteStore(paths.db(home))
    return "\n".join(str(e.data.get("message", "")) for e in store.read_events(task_id))


def test_second_task_restores_the_environment(tmp_path: Path, errand: Runner) -> None:
    first = final_json(errand("demo", "--json"))
    second = final_json(errand("demo", "--json"))
    assert first["status"] == second["status"] == "completed"
    home = tmp_path / "home"
    assert "restored from the environment cache" not in logs(home, first["id"])
    second_logs = logs(home, second["id"])
    assert "restored from the environment cache" in second_logs
    assert "pip install" not in second_logs
    assert second["tests"]["baseline"] == first["tests"]["baseline"]
