"""prepare's dependency step, cold against warm: the real install commands prepare would run for
a Python repository (from shared.testsuite.detect) in the real sandbox with egress, against
restoring the environment cache entry that the cold run saved.

cold_s is what prepare spends installing without a cache (the install commands; save_s is
reported apart), warm_s the median restore; each warm run is then checked by running the venv's
pytest in the sandbox, outside the timing. Target: warm ≤ 10 % of cold. Needs network to PyPI.

`python -m tests.bench.bench_prepare` prints the figures as JSON."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from shared import testsuite
from shared.adapters.bwrap_sandbox import BwrapSandbox
from shared.envcache import EnvCache, cache_key, runtime_version

TARGET_RATIO = 0.10
WARM_RUNS = 3
REQUIREMENTS = "numpy\npandas\ndjango\nsqlalchemy\npytest\n"
REPO = {
    "requirements.txt": REQUIREMENTS,
    "tests/test_stack.py": (
        "import django, numpy, pandas, sqlalchemy\n\n\n"
        "def test_stack():\n"
        "    assert pandas.DataFrame({'a': numpy.arange(3)})['a'].sum() == 3\n"
    ),
}


def _workspace(root: Path) -> Path:
    for rel, text in REPO.items():
        (root / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "repo" / rel).write_text(text)
    return root


def _timed(action: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action(*args)
    return time.perf_counter() - started, result


def main() -> dict[str, Any]:
    sandbox = BwrapSandbox()
    plan = testsuite.detect({"requirements.txt": REQUIREMENTS}, list(REPO))
    assert plan is not None, "the fixture repository must have a test plan"
    key = cache_key(
        "bench/prepare", {"requirements.txt": REQUIREMENTS}, plan.install, runtime_version()
    )
    with tempfile.TemporaryDirectory(prefix="errand-bench-prepare-") as tmp:
        cache = EnvCache(Path(tmp) / "cache")
        cold_ws = _workspace(Path(tmp) / "cold")
        started = time.perf_counter()
        for command in plan.install:
            done = sandbox.run(
                cold_ws, command, network=True, timeout_s=900, cwd=testsuite.REPO_DIR
            )
            if done.exit_code != 0:
                raise RuntimeError(f"cold install failed: {command}\n{done.output[-2000:]}")
        cold_s = time.perf_counter() - started
        save_s, _ = _timed(cache.save, key, cold_ws)
        warm = []
        for n in range(WARM_RUNS):
            ws = _workspace(Path(tmp) / f"warm{n}")
            seconds, hit = _timed(cache.restore, key, ws)
            if not hit:
                raise RuntimeError("the cache entry saved by the cold run was not restored")
            check = sandbox.run(ws, plan.test, timeout_s=300, cwd=testsuite.REPO_DIR)
            if check.exit_code != 0:
                raise RuntimeError(f"the restored environment does not work:\n{check.output}")
            warm.append(seconds)
        entry = next(p for p in (Path(tmp) / "cache").iterdir() if p.name == key)
        size_mb = sum(f.stat().st_size for f in entry.iterdir()) / 1e6
    warm_s = statistics.median(warm)
    return {
        "requirements": REQUIREMENTS.split(),
        "cold_s": round(cold_s, 2),
        "save_s": round(save_s, 2),
        "warm_s": round(warm_s, 3),
        "warm_runs_s": [round(w, 3) for w in warm],
        "ratio": round(warm_s / cold_s, 4),
        "target_ratio": TARGET_RATIO,
        "met": warm_s / cold_s <= TARGET_RATIO,
        "entry_mb": round(size_mb, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
