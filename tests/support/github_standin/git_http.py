"""Git's smart HTTP protocol through `git http-backend` (CGI), as GitHub serves it at
`https://github.com/<owner>/<repo>.git`."""

from __future__ import annotations

import subprocess
from pathlib import Path


def read_body(rfile: object, headers: dict[str, str]) -> bytes:
    """The request body, whether git sent a Content-Length or chunked transfer encoding (it
    does for packs larger than http.postBuffer)."""
    reader = rfile
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out = bytearray()
        while True:
            size_line = reader.readline()  # type: ignore[attr-defined]
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                reader.readline()  # type: ignore[attr-defined]
                return bytes(out)
            out += reader.read(size)  # type: ignore[attr-defined]
            reader.readline()  # type: ignore[attr-defined]
    length = int(headers.get("content-length", "0") or 0)
    return reader.read(length) if length else b""  # type: ignore[attr-defined,no-any-return]


def run_backend(
    root: Path,
    method: str,
    path_info: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    user: str,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Runs one request through `git http-backend`; returns (status, headers, body)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "HOME": "/nonexistent",
        "REQUEST_METHOD": method,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "CONTENT_TYPE": headers.get("content-type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": user,  # enables receive-pack, as an authenticated user does on GitHub
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    if headers.get("content-encoding"):
        env["HTTP_CONTENT_ENCODING"] = headers["content-encoding"]
    if headers.get("git-protocol"):
        env["GIT_PROTOCOL"] = headers["git-protocol"]
    done = subprocess.run(
        ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
    )
    head, _, payload = done.stdout.partition(b"\r\n\r\n")
    if not _:
        head, _, payload = done.stdout.partition(b"\n\n")
    status = 200
    out_headers: list[tuple[str, str]] = []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            out_headers.append((name.strip(), value.strip()))
    if done.returncode != 0 and not done.stdout:
        return 500, [("Content-Type", "text/plain")], done.stderr
    return status, out_headers, payload
