"""What every command group shares: exit codes, the connection to Errand, paths."""

from __future__ import annotations

import os
import re
from typing import Any

from shared.client import Client, ClientError, HttpClient, LocalClient
from shared.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GATE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
GATES = frozenset({"plan_review", "diff_review"})

EXIT_CODES_HELP = """exit codes:
  0    done as asked (including a successful cancel or approval)
  1    the task failed (or was cancelled while you followed it)
  2    usage error: a bad option or input, said on stderr
  3    stopped at a gate (plan_review or diff_review), waiting for you
  130  interrupted (Ctrl-C); the task itself goes on"""

_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/\s]+@[^/\s]+:")


def connect(settings: Settings) -> tuple[Client, Any]:
    """A client for the server `errand login` signed in to, else the running server of this
    home, else an in-process stack on the same home."""
    from shared.client_login import read_login
    from shared.stack import Stack, read_server_file

    login = read_login(settings.home)
    if login is not None:
        return HttpClient(login.server, login.token), None
    info = read_server_file(settings.home)
    if info:
        client = HttpClient(info.url, info.token)
        try:
            client._call("GET", "/api/health")
            return client, None
        except ClientError as exc:
            if exc.code == "not_errand":
                raise  # something else answers there: running in-process would hide it
            # else a stale server file: the server is gone
    stack = Stack(settings)
    return LocalClient(stack), stack


def absolute_repo(repo: str) -> str:
    """A local path as the user meant it, from their directory (the server has its own); git
    URLs and scp-like `user@host:path` stay as they are."""
    repo = repo.strip()
    if not repo or _REMOTE.match(repo):
        return repo
    return os.path.abspath(os.path.expanduser(repo))
