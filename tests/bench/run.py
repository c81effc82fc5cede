"""`make bench`: every benchmark, figures printed and written to tests/bench/results.json."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

BENCHES = [
    "tests.bench.bench_task",
    "tests.bench.bench_sandbox",
    "tests.bench.bench_prepare",
    "tests.bench.bench_context",
    "tests.bench.bench_peer",
    "tests.bench.bench_load",
    "tests.bench.bench_burst",
    "tests.bench.bench_webhook",
    "tests.bench.bench_feed",
]


def main(names: list[str]) -> int:
    out = Path(__file__).with_name("results.json")
    # running some benchmarks keeps the figures of the others from their last run
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    for name in names or BENCHES:
        module = importlib.import_module(name)
        print(f"== {name}", flush=True)
        results[name.rsplit(".", 1)[-1]] = result = module.main()
        print(json.dumps(result, indent=2), flush=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
