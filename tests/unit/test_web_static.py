"""The web app served by `errand up`: public shell and assets with the right cache headers, the
SPA fallback for deep links, and data still behind the token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from shared.server import LocalServer
from shared.settings import Settings
from shared.web_static import WebStatic
from shared.wiring import Deps

INDEX = b'<!doctype html><script type="module" src="/assets/index-abc123.js"></script>'


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "assets" / "index-abc123.js").write_bytes(b"console.log(1)")
    (root / "favicon.svg").write_bytes(b"<svg/>")
    (tmp_path / "secret.txt").write_bytes(b"outside")
    return root


def get(server: LocalServer, path: str, **headers: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=server)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
            return await c.get(path, headers=headers)

    return asyncio.run(go())


def make(tmp_path: Path, root: Path) -> LocalServer:
    settings = Settings(home=tmp_path / "home", internal_token=SecretStr("tok"))
    return LocalServer(Deps(settings), web=WebStatic(root))


def test_shell_and_assets_are_public_with_cache_headers(tmp_path: Path, dist: Path) -> None:
    server = make(tmp_path, dist)
    index = get(server, "/")
    assert index.status_code == 200 and index.content == INDEX
    assert index.headers["cache-control"] == "no-cache"
    assert index.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in index.headers["content-security-policy"]
    asset = get(server, "/assets/index-abc123.js")
    assert asset.status_code == 200 and asset.content == b"console.log(1)"
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in asset.headers["content-type"]
    assert get(server, "/favicon.svg").headers["cache-control"] == "no-cache"
    again = get(server, "/", **{"If-None-Match": index.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_deep_links_fall_back_to_the_shell(tmp_path: Path, dist: Path) -> None:
    server = make(tmp_path, dist)
    for path in ("/tasks/t_0123456789ab", "/tasks", "/settings", "/nowhere/at/all"):
        resp = get(server, path)
        assert resp.status_code == 200 and resp.content == INDEX, path
        assert resp.headers["cache-control"] == "no-cache"


def test_missing_files_are_404_not_html(tmp_path: Path, dist: Path) -> None:
    server = make(tmp_path, dist)
    for path in ("/assets/index-old999.js", "/assets/nothing", "/robots.txt", "/../secret.txt"):
        resp = get(server, path)
        assert resp.status_code == 404 and b"<" not in resp.content, path
    assert get(server, "/assets/../../secret.txt").status_code == 404


def test_data_still_needs_the_token(tmp_path: Path, dist: Path) -> None:
    server = make(tmp_path, dist)
    assert get(server, "/api/tasks").status_code == 401
    assert get(server, "/blobs/tasks/x/summary.mp3").status_code in (401, 403)
    assert get(server, "/api/tasks", authorization="Bearer tok").status_code == 200
    # the one-time login link is not the shell's to answer
    assert get(server, "/?login=abc").status_code == 401


def test_a_missing_build_says_how_to_build_it(tmp_path: Path) -> None:
    resp = get(make(tmp_path, tmp_path / "nope"), "/tasks/t_1")
    assert resp.status_code == 503 and b"npm ci" in resp.content
