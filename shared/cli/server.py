"""`errand up`, `errand doctor`, `errand demo`: running Errand on this machine."""

from __future__ import annotations

import argparse
from typing import Any

from shared.settings import Settings


def register(sub: Any) -> None:
    up = sub.add_parser("up", help="serve the API, queue worker and job pool on 127.0.0.1")
    up.add_argument("--port", type=int, default=None)
    up.set_defaults(handler=run_up)
    sub.add_parser(
        "doctor", help="check this machine and say how to fix what is missing"
    ).set_defaults(handler=run_doctor)
    demo = sub.add_parser(
        "demo", help="run a task on a bundled sample repo with the scripted model"
    )
    demo.add_argument("--json", action="store_true")
    demo.set_defaults(handler=run_demo)


def run_up(args: argparse.Namespace, settings: Settings) -> int:
    from shared.up import serve

    return serve(settings, args.port or settings.port)


def run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from shared.doctor import run_doctor

    return run_doctor(settings)


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from shared.demo import run_demo

    return run_demo(settings, as_json=args.json)
