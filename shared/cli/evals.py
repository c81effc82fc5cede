"""`errand eval ...`: evaluations, each with its own options parser."""

from __future__ import annotations

import argparse
from typing import Any

from shared.settings import Settings


def register(sub: Any) -> None:
    ev = sub.add_parser("eval", help="evaluations").add_subparsers(dest="eval", required=True)
    loc = ev.add_parser(
        "localize",
        add_help=False,  # its own parser answers -h
        help="recall@k of localization: --dataset FILE.jsonl [--k 1,5,10]",
    )
    loc.set_defaults(handler=run_localize, raw_args=True)


def run_localize(args: argparse.Namespace, settings: Settings) -> int:
    from shared.eval_localize import main as localize

    return localize(args.extra)
