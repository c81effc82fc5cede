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
]


def main(names: list[str]) -> int:
    results: dict[str, Any] = {}
    for name in names or BENCHES:
        module = importlib.import_module(name)
        print(f"== {name}", flush=True)
        results[name.rsplit(".", 1)[-1]] = result = module.main()
        print(json.dumps(result, indent=2), flush=True)
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
