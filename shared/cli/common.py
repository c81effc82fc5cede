"""What every command group shares: exit codes and the connection to Errand."""

from __future__ import annotations

from typing import Any

from shared.client import Client, ClientError, HttpClient, LocalClient
from shared.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GATE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def connect(settings: Settings) -> tuple[Client, Any]:
    """A client for the running server, or an in-process stack on the same home."""
    from shared.stack import Stack, read_server_file

    info = read_server_file(settings.home)
    if info:
        client = HttpClient(info.url, info.token)
        try:
            client._call("GET", "/api/health")
            return client, None
        except ClientError:
            pass  # a stale server file: the server is gone
    stack = Stack(settings)
    return LocalClient(stack), stack
