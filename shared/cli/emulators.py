"""`errand emulators`: the Google Cloud emulators and stand-ins for the cloud adapters."""

from __future__ import annotations

import argparse
import os
from typing import Any

from shared.settings import Settings


def register(sub: Any) -> None:
    sub.add_parser(
        "emulators",
        help="start the Google Cloud emulators and print the environment that selects them",
        description="Prints `export NAME=VALUE` lines, then `# ready`; runs until SIGTERM or "
        "SIGINT. With them exported, `errand up` and every task command use the cloud adapters.",
    ).set_defaults(handler=run_emulators)


def run_emulators(args: argparse.Namespace, settings: Settings) -> int:
    from shared.emulators import run

    # the stand-in's Cloud Run executions run with this environment, as `errand up` would
    return run(settings, dict(os.environ))
