"""`errand up`, `errand doctor`, `errand demo`: running Errand on this machine."""

from __future__ import annotations

import argparse
from typing import Any

from shared.settings import Settings


def register(sub: Any) -> None:
    up = sub.add_parser(
        "up",
        help="serve the API, web app, queue worker and job pool on 127.0.0.1",
        description="Serve Errand on this machine until Ctrl-C; the CLI uses it when it runs.",
    )
    up.add_argument("--port", type=int, default=None, help="the port (default: ERRAND_PORT)")
    up.set_defaults(handler=run_up)
    doctor = sub.add_parser(
        "doctor",
        help="check this machine and say how to fix what is missing",
        description="Checks what Errand needs and proves it works: the sandbox starts, the "
        "model's key is there and its endpoint answers, speech renders.",
    )
    doctor.add_argument(
        "--live",
        action="store_true",
        help="also make a one-token model call (may cost a fraction of a cent)",
    )
    doctor.set_defaults(handler=run_doctor)
    demo = sub.add_parser(
        "demo", help="run a task on a bundled sample repo with the scripted model"
    )
    demo.add_argument("--json", action="store_true", help="print the finished task as JSON")
    demo.set_defaults(handler=run_demo)


def run_up(args: argparse.Namespace, settings: Settings) -> int:
    from shared.up import serve

    return serve(settings, args.port or settings.port)


def run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from shared.doctor import run_doctor

    return run_doctor(settings, live=args.live)


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from shared.demo import run_demo

    return run_demo(settings, as_json=args.json)
