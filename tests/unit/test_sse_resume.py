"""The local server's asynchronous event stream resumes after `Last-Event-ID` (what the web
app's EventSource sends on reconnect): every later event once, in order, none before, even while
a stage keeps appending and across the store's page size."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
from pydantic import SecretStr

from shared.domain import EventKind, Task
from shared.server import LocalServer
from shared.settings import Settings
from shared.wiring import Deps


async def stream_ids(server: LocalServer, task_id: str, last_event_id: int | None) -> list[int]:
    transport = httpx.ASGITransport(app=server)
    headers = {"authorization": "Bearer tok"}
    if last_event_id is not None:
        headers["last-event-id"] = str(last_event_id)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
        resp = await c.get(f"/api/tasks/{task_id}/events", headers=headers, timeout=60)
    assert resp.status_code == 200
    return [int(line[4:]) for line in resp.text.splitlines() if line.startswith("id: ")]


def test_resume_after_last_event_id_while_events_keep_coming(tmp_path: Path) -> None:
    deps = Deps(Settings(home=tmp_path / "home", internal_token=SecretStr("tok")))
    store = deps.store
    task = store.create_task(Task(repo="/r", prompt="p", model="m"))
    first = [
        store.append_event(task.id, EventKind.LOG, {"message": f"l{i}"}).id for i in range(560)
    ]
    other = store.append_event("t_other", EventKind.LOG, {"message": "not this task"}).id

    def keep_writing() -> None:
        for i in range(100):
            store.append_event(task.id, EventKind.LOG, {"message": f"m{i}"})
        store.append_event(task.id, EventKind.STATUS, {"status": "cancelled"})

    writer = threading.Thread(target=keep_writing)
    writer.start()
    server = LocalServer(deps)

    async def both() -> tuple[list[int], list[int]]:  # one event loop, as under uvicorn
        resumed = await stream_ids(server, task.id, last_event_id=first[49])
        await asyncio.to_thread(writer.join)
        return resumed, await stream_ids(server, task.id, None)

    resumed, whole = asyncio.run(both())
    everything = [e.id for e in store.read_events(task.id, 0, 2000)]
    assert len(everything) == 661 and other not in everything
    assert resumed == everything[50:]  # after the cursor: each once, in order, through the end
    assert whole == everything
