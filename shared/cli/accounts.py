"""Accounts on the command line: `errand logout/open`, `errand token ...`, `errand usage`,
`errand keys ...`, and the operator's `errand user ...` (`errand login` is shared/cli/login.py)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import webbrowser
from typing import Any

from shared.cli.common import EXIT_OK, EXIT_USAGE
from shared.client import ClientError, HttpClient
from shared.errors import InvalidInput
from shared.settings import Settings


def register(sub: Any) -> None:
    sub.add_parser("logout", help="forget the server `errand login` signed in to").set_defaults(
        handler=run_logout
    )
    sub.add_parser("open", help="open the web app, signed in (single-user mode)").set_defaults(
        handler=run_open
    )
    usage = sub.add_parser("usage", help="your tasks, tokens and USD today and this month")
    usage.add_argument("--json", action="store_true", help="print one JSON object")
    usage.set_defaults(handler=run_usage)

    token = sub.add_parser("token", help="personal API tokens").add_subparsers(
        dest="token_action", required=True
    )
    create = token.add_parser("create", help="make a token (shown once)")
    create.add_argument("--name", required=True, help="what the token is for, e.g. ci")
    create.add_argument(
        "--expires", type=int, default=None, metavar="DAYS", help="expire after DAYS days"
    )
    create.set_defaults(handler=run_token_create)
    token.add_parser("list", help="your tokens (never their values)").set_defaults(
        handler=run_token_list
    )
    revoke = token.add_parser("revoke", help="stop a token working at once")
    revoke.add_argument("id", help="the token's id, from `errand token list`")
    revoke.set_defaults(handler=run_token_revoke)

    keys = sub.add_parser(
        "keys", help="your model keys; the operator's key rotation"
    ).add_subparsers(dest="keys_action", required=True)
    put = keys.add_parser("set", help="store your key for a provider (read from stdin)")
    put.add_argument("provider", help="a litellm provider, e.g. openai or anthropic")
    put.add_argument("--api-base", default="", help="an OpenAI-compatible base URL for this key")
    put.set_defaults(handler=run_keys_set)
    keys.add_parser("list", help="your keys: provider, last four characters").set_defaults(
        handler=run_keys_list
    )
    delete = keys.add_parser("delete", help="forget your key for a provider")
    delete.add_argument("provider", help="the provider whose key to delete")
    delete.set_defaults(handler=run_keys_delete)
    keys.add_parser(
        "rotate", help="operator: new key-encryption key, every stored key re-wrapped"
    ).set_defaults(handler=run_keys_rotate)

    user = sub.add_parser("user", help="operator: users' role and limits").add_subparsers(
        dest="user_action", required=True
    )
    admin = user.add_parser("admin", help="make LOGIN an admin (sees every task)")
    admin.add_argument("login", help="the user's GitHub login")
    admin.add_argument("--revoke", action="store_true", help="take the admin role away")
    admin.set_defaults(handler=run_user_admin)
    limits = user.add_parser("limits", help="set LOGIN's quotas and monthly budget")
    limits.add_argument("login", help="the user's GitHub login")
    limits.add_argument("--tasks-per-day", type=int, help="tasks the user may start a day")
    limits.add_argument("--concurrent", type=int, help="tasks the user may run at once")
    limits.add_argument("--monthly-usd", type=float, help="the user's monthly model budget")
    limits.add_argument("--reset", action="store_true", help="back to the server's defaults")
    limits.set_defaults(handler=run_user_limits)


# ---------------------------------------------------------------------------- the API


def api(settings: Settings, method: str, path: str, body: object = None) -> Any:
    """Calls the API where task commands go: the server `errand login` chose, the server of
    this home, or the same handlers in-process as this machine's user."""
    from shared.client_login import read_login
    from shared.stack import read_server_file

    login = read_login(settings.home)
    if login is not None:
        return HttpClient(login.server, login.token)._call(method, path, body)
    info = read_server_file(settings.home)
    if info is not None:
        client = HttpClient(info.url, info.token)
        try:
            client._call("GET", "/api/health")
        except ClientError:
            info = None  # a stale server file
        else:
            return client._call(method, path, body)
    return _in_process(settings, method, path, body)


def _in_process(settings: Settings, method: str, path: str, body: object) -> Any:
    import secrets

    from pydantic import SecretStr

    from functions.app import create_app
    from shared.wiring import Deps

    token = secrets.token_urlsafe(24)
    deps = Deps(settings.model_copy(update={"internal_token": SecretStr(token)}))
    resp = (
        create_app(deps)
        .test_client()
        .open(path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})
    )
    data = resp.get_json(silent=True) or {}
    if resp.status_code >= 400:
        err = data.get("error", {})
        raise ClientError(err.get("code", "error"), err.get("message", ""), resp.status_code)
    return data


# ---------------------------------------------------------------------------- commands


def run_logout(args: argparse.Namespace, settings: Settings) -> int:
    from shared.client_login import forget_login

    if forget_login(settings.home):
        print("Signed out; task commands use this machine's Errand again")
    else:
        print("Not signed in to a remote server")
    return EXIT_OK


def run_open(args: argparse.Namespace, settings: Settings) -> int:
    from shared.account_wiring import local_login
    from shared.stack import read_server_file
    from shared.wiring import Deps

    info = read_server_file(settings.home)
    if info is None:
        raise InvalidInput("no server runs for this ERRAND_HOME: start it with `errand up`")
    url = info.url
    if not settings.multi_user:
        deps = Deps(settings)
        user = deps.users.ensure_local_user(local_login())
        url = f"{info.url}/?login={deps.auth.login_code(user)}"
    print(url)
    webbrowser.open(url)
    return EXIT_OK


def run_usage(args: argparse.Namespace, settings: Settings) -> int:
    data = api(settings, "GET", "/api/me/usage")
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    lim = data["limits"]
    day, month = data["day"], data["month"]
    per_day = lim["tasks_per_day"] or "unlimited"
    print(
        f"today ({day['date']}): {day['tasks']} tasks of {per_day}, {day['tokens']:,} tokens, "
        f"${day['usd']:.4f}"
    )
    print(
        f"this month ({month['month']}): {month['tasks']} tasks, {month['tokens']:,} tokens, "
        f"${month['usd']:.4f} of ${lim['monthly_budget_usd']:.2f}"
    )
    print(f"concurrent tasks allowed: {lim['concurrent_tasks'] or 'unlimited'}")
    return EXIT_OK


def run_token_create(args: argparse.Namespace, settings: Settings) -> int:
    body: dict[str, object] = {"name": args.name}
    if args.expires is not None:
        body["expires_days"] = args.expires
    made = api(settings, "POST", "/api/me/tokens", body)
    print(made["token"])
    until = f", expires {made['expires_at'][:10]}" if made.get("expires_at") else ""
    print(f"{made['id']} ({made['name']}{until}): shown once, store it now", file=sys.stderr)
    return EXIT_OK


def run_token_list(args: argparse.Namespace, settings: Settings) -> int:
    for t in api(settings, "GET", "/api/me/tokens")["tokens"]:
        used = (t.get("last_used_at") or "never")[:19]
        expires = (t.get("expires_at") or "never")[:10]
        print(f"{t['id']}  {t['name']:<20} …{t['last4']}  expires {expires}  last used {used}")
    return EXIT_OK


def run_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    api(settings, "DELETE", f"/api/me/tokens/{args.id}")
    print(f"revoked {args.id}")
    return EXIT_OK


def run_keys_set(args: argparse.Namespace, settings: Settings) -> int:
    key = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("Key: ")
    info = api(
        settings, "PUT", f"/api/me/keys/{args.provider}", {"key": key, "api_base": args.api_base}
    )
    print(f"stored your {info['provider']} key …{info['last4']}")
    return EXIT_OK


def run_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    for k in api(settings, "GET", "/api/me/keys")["keys"]:
        base = f"  {k['api_base']}" if k.get("api_base") else ""
        print(f"{k['provider']:<16} …{k['last4']}  added {k['added_at'][:10]}{base}")
    return EXIT_OK


def run_keys_delete(args: argparse.Namespace, settings: Settings) -> int:
    api(settings, "DELETE", f"/api/me/keys/{args.provider}")
    print(f"deleted your {args.provider} key")
    return EXIT_OK


def run_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from shared.wiring import Deps

    count = Deps(settings).keys.rotate()
    print(
        f"new key-encryption key in place; {count} stored credentials re-wrapped, old key retired"
    )
    return EXIT_OK


def run_user_admin(args: argparse.Namespace, settings: Settings) -> int:
    from shared.wiring import Deps

    users = Deps(settings).users
    user = users.find_user(args.login)
    users.update_user(user.model_copy(update={"admin": not args.revoke}))
    print(f"{user.login} is {'no longer ' if args.revoke else ''}an admin")
    return EXIT_OK


def run_user_limits(args: argparse.Namespace, settings: Settings) -> int:
    from shared.accounts import Limits
    from shared.wiring import Deps

    users = Deps(settings).users
    user = users.find_user(args.login)
    limits = Limits() if args.reset else user.limits
    changes = {
        "tasks_per_day": args.tasks_per_day,
        "concurrent_tasks": args.concurrent,
        "monthly_budget_usd": args.monthly_usd,
    }
    if not args.reset and all(v is None for v in changes.values()):
        print("nothing to change: pass --tasks-per-day, --concurrent, --monthly-usd or --reset")
        return EXIT_USAGE
    try:
        limits = Limits.model_validate(
            limits.model_dump() | {k: v for k, v in changes.items() if v is not None}
        )
    except ValueError as exc:
        raise InvalidInput(f"invalid limit: {exc}") from None
    users.update_user(user.model_copy(update={"limits": limits}))
    print(f"{user.login}: {json.dumps(limits.model_dump())} (null = the server's default)")
    return EXIT_OK
