"""Helpers for the escape battery: running a hostile script and checking the host after it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from shared.adapters.bwrap_sandbox import BwrapSandbox
from shared.ports import CommandResult

# Planted where the controller keeps its secrets; no probe's output may ever contain one.
ENV_CANARIES = {
    "ERRAND_MODEL_API_KEY": "canary-model-5e1f0c2b",
    "GITHUB_TOKEN": "canary-github-9d7e41aa",
    "ERRAND_CANARY_KEY": "canary-env-3b6c2f10",
}
FILE_CANARY = "canary-file-77a0e5d4"


@dataclass(frozen=True)
class Host:
    """The controller's side of one probe: its ERRAND_HOME stand-in and the task workspace."""

    home: Path
    key_file: Path  # holds FILE_CANARY, as keys/master.key holds the real master key
    workspace: Path
    markers: Path  # a directory planted commands would create files in, were they to run here


def leaked(text: str) -> list[str]:
    return [c for c in [*ENV_CANARIES.values(), FILE_CANARY] if c in text]


def probe(
    sandbox: BwrapSandbox,
    workspace: Path,
    script: str,
    *,
    network: bool = False,
    timeout_s: float = 30,
) -> CommandResult:
    """Runs `script` in the sandbox; fails the test if it timed out or printed a canary."""
    result = sandbox.run(workspace, script, network=network, timeout_s=timeout_s)
    assert not result.timed_out, result.output[-2000:]
    assert leaked(result.output) == [], result.output[-2000:]
    return result


def python(code: str) -> str:
    """A shell command running `code` with the sandbox's python3."""
    return f"python3 - <<'EOF'\n{code}\nEOF"


def host_processes(marker: str) -> list[int]:
    """Host pids whose command line contains `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode():
                pids.append(int(entry.name))
        except (OSError, UnicodeDecodeError):
            continue
    return pids


def host_can_fork() -> bool:
    return subprocess.run(["true"], check=False).returncode == 0


def own_cgroups() -> list[Path]:
    """Per-command cgroups this process made and did not remove."""
    found: list[Path] = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        roots = [f"/sys/fs/cgroup/{n}" for n in names.split(",")] if names else ["/sys/fs/cgroup"]
        for root in roots:
            found += Path(root + path).glob(f"errand-{os.getpid()}-*")
    return found
