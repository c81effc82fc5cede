"""The `errand` command line: one module per command group.

A command group is a module with `register(subparsers)`, which adds its parsers and sets
`handler=` on each leaf (a function `(args, settings) -> exit code`). Adding a group is one
line in GROUPS."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys
from collections.abc import Sequence

from shared.cli.common import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)
from shared.errors import ErrandError
from shared.settings import Settings

GROUPS = (
    "shared.cli.server",
    "shared.cli.tasks",
    "shared.cli.evals",
    "shared.cli.accounts",
    "shared.cli.login",
    "shared.cli.github",
    "shared.cli.emulators",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="errand",
        description="Errand: an asynchronous coding agent. Give it a repository and a task; it "
        "plans, changes the code in a sandbox, runs the tests before and after, and opens a "
        "change request for you to review.",
        epilog=EXIT_CODES_HELP + "\n\nStart with `errand doctor`, then `errand demo`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"errand {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in GROUPS:
        importlib.import_module(name).register(sub)
    return p


def version() -> str:
    try:
        return importlib.metadata.version("errand")
    except importlib.metadata.PackageNotFoundError:
        return "(source checkout, not installed: pip install -e .)"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "raw_args", False):
        parser.parse_args(argv)  # reports the unrecognised arguments and exits 2
    args.extra = extra
    try:
        settings = Settings.from_env()
        code: int = args.handler(args, settings)
        return code
    except ErrandError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if exc.http_status < 500 else EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `errand ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
