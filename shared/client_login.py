"""The server `errand login --server URL` signed in to: task commands use it instead of the
server on this machine. Stored in ERRAND_HOME/client.json, mode 0600 (it holds a token)."""

from __future__ import annotations

import os
from pathlib import Path

from shared import paths
from shared.domain import Model


class ClientLogin(Model):
    server: str
    token: str
    login: str = ""
    # set when `errand login` had the token made for this machine: `errand logout` revokes it
    token_id: str = ""


def write_login(home: Path, login: ClientLogin) -> None:
    path = paths.client_file(home)
    paths.ensure_home(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(login.model_dump_json())


def read_login(home: Path) -> ClientLogin | None:
    try:
        return ClientLogin.model_validate_json(paths.client_file(home).read_bytes())
    except (OSError, ValueError):
        return None


def forget_login(home: Path) -> bool:
    path = paths.client_file(home)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed
