"""The routes the local server serves itself (event streams, blobs) keep each user's work
theirs too: another user's ids answer 404, blobs need their owner or a signed URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from shared import signing
from shared.accounts import ApiToken, User, token_hash
from shared.server import LocalServer
from shared.services import CreateTask
from shared.settings import Settings
from shared.wiring import Deps

BASE = "http://127.0.0.1:8080"


def person(deps: Deps, github_id: int, login: str) -> tuple[User, dict[str, str]]:
    user = deps.users.ensure_github_user(github_id, login, login, "")
    raw = f"errand_{login}_" + "x" * 30
    deps.tokens.add_token(ApiToken(user_id=user.id, name="t", hash=token_hash(raw), last4="xxxx"))
    return user, {"authorization": f"Bearer {raw}"}


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    settings = Settings(home=tmp_path / "home", model="openai/x", internal_token=SecretStr("i"))
    return Deps(settings)


def test_streams_and_blobs_are_scoped_to_their_owner(deps: Deps) -> None:
    alice, alice_auth = person(deps, 1, "alice")
    _, bob_auth = person(deps, 2, "bob")
    task = deps.task_service(alice).create(CreateTask(repo="/r", prompt="p"))
    deps.task_service(alice).cancel(task.id)  # its stream ends
    key = f"tasks/{task.id}/summary.txt"
    deps.blobs.put(key, b"alice's summary", "text/plain")
    signed = signing.blob_path(deps.signing_key, key)
    expired = signing.blob_path(deps.signing_key, key, ttl_s=-1)

    async def calls() -> dict[str, httpx.Response]:
        transport = httpx.ASGITransport(app=LocalServer(deps))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
            events = f"/api/tasks/{task.id}/events"
            return {
                "alice_events": await c.get(events, headers=alice_auth),
                "bob_events": await c.get(events, headers=bob_auth),
                "anon_events": await c.get(events),
                "missing_events": await c.get("/api/tasks/t_000000000000/events", headers=bob_auth),
                "alice_blob": await c.get(f"/blobs/{key}", headers=alice_auth),
                "bob_blob": await c.get(f"/blobs/{key}", headers=bob_auth),
                "anon_blob": await c.get(f"/blobs/{key}"),
                "signed": await c.get(signed),
                "expired": await c.get(expired),
                "other_key": await c.get(signed.replace("summary.txt", "other.txt")),
                "query_token": await c.get(f"/blobs/{key}?token=i"),
            }

    r = asyncio.run(calls())
    assert r["alice_events"].status_code == 200 and '"cancelled"' in r["alice_events"].text
    assert r["bob_events"].status_code == 404
    assert r["bob_events"].text.replace(task.id, "t_000000000000") == r["missing_events"].text
    assert r["anon_events"].status_code == 401
    assert r["alice_blob"].content == b"alice's summary"
    assert r["bob_blob"].status_code == 404 and b"alice" not in r["bob_blob"].content
    assert r["anon_blob"].status_code == 401 and r["query_token"].status_code == 401
    assert r["signed"].content == b"alice's summary"
    assert r["expired"].status_code == 401 and r["other_key"].status_code == 401
