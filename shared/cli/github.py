"""`errand github ...`: the GitHub App."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shared.settings import Settings


def register(sub: Any) -> None:
    gh = sub.add_parser("github", help="the GitHub App").add_subparsers(dest="gh", required=True)
    setup = gh.add_parser("setup", help="register the GitHub App (manifest flow) and store it")
    setup.add_argument(
        "--public-url", default="", help="where GitHub reaches this Errand (ERRAND_PUBLIC_URL)"
    )
    setup.add_argument("--org", default="", help="register the App under this organization")
    setup.add_argument("--manual", action="store_true", help="print the steps instead")
    setup.add_argument("--app-id", type=int, default=0, help="an existing App's id")
    setup.add_argument(
        "--private-key-file", type=Path, default=None, help="that App's private key (.pem)"
    )
    setup.add_argument(
        "--webhook-secret-file", type=Path, default=None, help="a file holding its webhook secret"
    )
    setup.set_defaults(handler=run_setup)


def run_setup(args: argparse.Namespace, settings: Settings) -> int:
    from shared.github.setup import run_setup as setup
    from shared.wiring import Deps

    return setup(
        settings,
        Deps(settings).secrets,
        public_url=args.public_url or settings.github.public_url,
        org=args.org,
        manual=args.manual,
        app_id=args.app_id,
        key_file=args.private_key_file,
        secret_file=args.webhook_secret_file,
    )
