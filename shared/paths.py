"""One function per storage location under ERRAND_HOME."""

from __future__ import annotations

import os
from pathlib import Path


def ensure_home(home: Path) -> None:
    """Creates ERRAND_HOME private to its owner: it holds keys, workspaces written by untrusted
    code (which may plant setuid files) and the database."""
    home.mkdir(parents=True, exist_ok=True)
    if home.stat().st_mode & 0o077:
        os.chmod(home, 0o700)


def db(home: Path) -> Path:
    return home / "errand.db"


def blobs(home: Path) -> Path:
    return home / "blobs"


def workspace(home: Path, task_id: str) -> Path:
    return home / "workspaces" / task_id


def job_log(home: Path, execution_id: str) -> Path:
    return home / "jobs" / f"{execution_id}.log"


def execution_record(home: Path, execution_id: str) -> Path:
    """Which local process runs an execution (pid, start time, boot id)."""
    return home / "jobs" / f"{execution_id}.pid"


def failpoint_markers(home: Path) -> Path:
    return home / "failpoints"


def jobs_dir(home: Path) -> Path:
    return home / "jobs"


def key_file(home: Path) -> Path:
    return home / "keys" / "master.key"


def signing_key(home: Path) -> Path:
    """Signs session cookies and blob URLs (when ERRAND_SESSION_SECRET is not set)."""
    return home / "keys" / "signing.key"


def client_file(home: Path) -> Path:
    """Written by `errand login --server URL`: the server and token task commands use."""
    return home / "client.json"


def server_file(home: Path) -> Path:
    """Written by `errand up` so that CLI commands find the running server."""
    return home / "server.json"


def context_cache(home: Path) -> Path:
    """Facts retrieval keeps per repository and commit (jobs.agent.context_cache); written by
    the trusted side only, never mounted into a sandbox."""
    return home / "cache" / "context"


def env_cache(home: Path) -> Path:
    return home / "envcache"


def github_app(home: Path) -> Path:
    """The GitHub App's id and its secrets (encrypted), written by `errand github setup`."""
    return home / "github" / "app.json"
