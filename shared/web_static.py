"""Serves the built web app (`web/dist`) for `errand up`: the app shell and its assets, public
(no token, no session: they hold no data; every API call behind them needs one).

- `/assets/*` are content-hashed by Vite: cached for a year, `immutable`.
- `index.html` and other unhashed files: `no-cache` with an ETag, so a new build shows at once.
- Any other GET without a file extension is a deep link into the app (`/tasks/t_…`): the SPA
  fallback answers `index.html`. Missing files with an extension (a stale chunk, a typo) are
  404s, never HTML that a browser would try to run as a script.
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path, PurePosixPath
from typing import Any

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "web" / "dist"
IMMUTABLE = b"public, max-age=31536000, immutable"
NO_CACHE = b"no-cache"
# Prefixes served by the API side of the server (or by later features such as sign-in).
NOT_OURS = ("/api/", "/blobs/", "/auth/")
# The shell runs only our own scripts; style attributes carry the highlighter's colours.
CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; media-src 'self' https: http://127.0.0.1:* http://localhost:*; "
    b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
NOT_BUILT = (
    b"<!doctype html><title>Errand</title><h1>The web app is not built</h1><p>Run "
    b"<code>make run</code> (or <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>)"
    b" and reload. The API and the CLI work without it.</p>"
)


class WebStatic:
    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self._root = root.resolve()

    def owns(self, scope: Scope) -> bool:
        if scope["method"] not in ("GET", "HEAD"):
            return False
        path: str = scope["path"]
        if path.startswith(NOT_OURS) or path in ("/api", "/blobs"):
            return False
        # the single-user one-time login link (/?login=…) is the server's to answer
        query = scope.get("query_string", b"").decode("latin-1")
        return not any(p.startswith("login=") for p in query.split("&"))

    async def __call__(self, scope: Scope, send: Send) -> None:
        head = scope["method"] == "HEAD"
        file, cache = self._resolve(scope["path"])
        if file is None:
            if cache == b"app":
                await _respond(send, 503, b"text/html; charset=utf-8", NOT_BUILT, NO_CACHE, head)
            else:
                await _respond(
                    send, 404, b"text/plain; charset=utf-8", b"not found\n", NO_CACHE, head
                )
            return
        stat = await asyncio.to_thread(file.stat)
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'.encode()
        headers = dict(scope.get("headers") or [])
        if headers.get(b"if-none-match") == etag:
            await send(
                {"type": "http.response.start", "status": 304, "headers": _base(cache, etag)}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        data = b"" if head else await asyncio.to_thread(file.read_bytes)
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "image/svg+xml"):
            ctype += "; charset=utf-8"
        extra = [(b"content-security-policy", CSP)] if file.suffix == ".html" else []
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", ctype.encode()),
                    (b"content-length", str(stat.st_size).encode()),
                    *_base(cache, etag),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    def _resolve(self, path: str) -> tuple[Path | None, bytes]:
        """(file, cache policy); (None, b"app") when the build is missing."""
        index = self._root / "index.html"
        parts = PurePosixPath(path).parts[1:]
        if any(p in ("..", ".") or p.startswith(".") for p in parts):
            return None, NO_CACHE
        candidate = self._root.joinpath(*parts) if parts else index
        if candidate.is_file() and candidate.resolve().is_relative_to(self._root):
            hashed = parts[:1] == ("assets",)
            return candidate, IMMUTABLE if hashed else NO_CACHE
        if parts and ("." in parts[-1] or parts[0] == "assets"):
            return None, NO_CACHE
        return (index, NO_CACHE) if index.is_file() else (None, b"app")


def _base(cache: bytes, etag: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"cache-control", cache),
        (b"etag", etag),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]


async def _respond(
    send: Send, status: int, ctype: bytes, body: bytes, cache: bytes, head: bool
) -> None:
    headers = [
        (b"content-type", ctype),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", cache),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
