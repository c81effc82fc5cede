"""Sandbox start-up: the wall time of `BwrapSandbox.run` for `true` and for `python3 -c pass`,
every limit applied (cgroups for memory, pids and CPU; /tmp size; output cap), against a plain
`subprocess.run` of the same `bash -c` command with the same PATH, measured in the same run.

Runs are interleaved (sandbox, plain, sandbox, ...) so that both see the same machine load;
the load average is reported because on a busy host every figure moves with it. The
"spaced" figure starts `true` after 0.1 s idle each time, as an agent's commands come: on
cgroup v1 the move into the command's cgroups then waits for an RCU grace period (5-15 ms on
an idle machine), which back-to-back runs share.

`python -m tests.bench.bench_sandbox` prints the figures as JSON."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.adapters.bwrap_sandbox import BwrapSandbox

RUNS = 30
WARMUP = 3
SPACED_RUNS = 10
SPACED_GAP_S = 0.1
TARGET_MS = 25.0
COMMANDS = {"true": "true", "python": "python3 -c pass"}


def _ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _plain(command: str, workspace: Path, path: str) -> Callable[[], object]:
    env = {"PATH": path, "HOME": str(workspace), "LANG": "C.UTF-8"}

    def run() -> None:
        done = subprocess.run(
            ["/bin/bash", "-c", command],
            cwd=workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"plain `{command}` failed: {done.stdout!r}")

    return run


def _sandboxed(sandbox: BwrapSandbox, command: str, workspace: Path) -> Callable[[], object]:
    def run() -> None:
        result = sandbox.run(workspace, command, timeout_s=60)
        if result.exit_code != 0:
            raise RuntimeError(f"sandboxed `{command}` failed: {result.output}")

    return run


def measure(sandbox: BwrapSandbox, workspace: Path, runs: int = RUNS) -> dict[str, Any]:
    path = f"{Path(sys.base_prefix).resolve()}/bin:/usr/local/bin:/usr/bin:/bin"
    figures: dict[str, Any] = {}
    for name, command in COMMANDS.items():
        boxed, plain = _sandboxed(sandbox, command, workspace), _plain(command, workspace, path)
        for _ in range(WARMUP):
            boxed()
            plain()
        boxed_ms, plain_ms = [], []
        for _ in range(runs):
            boxed_ms.append(_ms(boxed))
            plain_ms.append(_ms(plain))
        median, base = statistics.median(boxed_ms), statistics.median(plain_ms)
        figures[f"sandbox_{name}_median_ms"] = round(median, 2)
        figures[f"sandbox_{name}_min_ms"] = round(min(boxed_ms), 2)
        figures[f"plain_{name}_median_ms"] = round(base, 2)
        figures[f"sandbox_{name}_ratio"] = round(median / base, 2)
    spaced = []
    for _ in range(SPACED_RUNS):
        time.sleep(SPACED_GAP_S)
        spaced.append(_ms(_sandboxed(sandbox, "true", workspace)))
    figures["sandbox_true_spaced_median_ms"] = round(statistics.median(spaced), 2)
    return figures


def main() -> dict[str, Any]:
    sandbox = BwrapSandbox()
    with tempfile.TemporaryDirectory(prefix="errand-bench-") as tmp:
        figures = measure(sandbox, Path(tmp))
    result = {
        **figures,
        "sandbox_start_target_ms": TARGET_MS,
        "sandbox_start_within_target": figures["sandbox_true_median_ms"] <= TARGET_MS,
        "sandbox_limits": sandbox.limits_active,
        "runs": RUNS,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
