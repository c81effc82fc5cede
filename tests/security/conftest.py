"""Every probe runs with canary secrets where the controller keeps its own (its environment, a
key file under its ERRAND_HOME), and ends by checking that the host is unharmed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import paths
from shared.adapters.bwrap_sandbox import BwrapSandbox
from tests.security.probes import ENV_CANARIES, FILE_CANARY, Host, host_can_fork, own_cgroups


@pytest.fixture(scope="session")
def sandbox() -> BwrapSandbox:
    return BwrapSandbox(memory_mb=256, pids=64, cpus=1.0, output_limit_bytes=64_000)


@pytest.fixture(autouse=True)
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    for name, value in ENV_CANARIES.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "errand_home"
    key_file = paths.key_file(home)
    key_file.parent.mkdir(parents=True)
    key_file.write_text(FILE_CANARY)
    key_file.chmod(0o600)
    workspace = paths.workspace(home, "task1")
    workspace.mkdir(parents=True)
    state = Host(home, key_file, workspace, tmp_path / "markers")
    yield state
    assert key_file.read_text() == FILE_CANARY, "the controller's key file was changed"
    assert {n: os.environ.get(n) for n in ENV_CANARIES} == ENV_CANARIES
    assert not state.markers.exists(), f"a planted command ran on the host: {state.markers}"
    assert own_cgroups() == [], "a command's cgroup outlived it"
    assert host_can_fork()


@pytest.fixture
def workspace(host: Host) -> Path:
    return host.workspace


@pytest.fixture
def host_sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A host process the sandbox must not be able to touch."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()
