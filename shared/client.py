"""How the CLI talks to Errand: over HTTP to a running server, or in-process on the same home
when none runs. Both return tasks as the API shows them (plain JSON objects)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, Protocol

import httpx

from shared.domain import Event, Plan, task_public
from shared.errors import ErrandError
from shared.review import Retry, ReviewFeedback
from shared.services import ApprovePlan, CreateTask
from shared.stack import Stack

TaskJson = dict[str, Any]
RECONNECT_FOR_S = 30.0


class ClientError(ErrandError):
    def __init__(self, code: str, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class Client(Protocol):
    def create(self, req: CreateTask) -> TaskJson: ...
    def get(self, task_id: str) -> TaskJson: ...
    def list(self) -> list[TaskJson]: ...
    def approve_plan(self, task_id: str, plan: Plan | None) -> TaskJson: ...
    def approve_diff(self, task_id: str) -> TaskJson: ...
    def cancel(self, task_id: str) -> TaskJson: ...
    def retry(self, task_id: str, from_start: bool) -> TaskJson: ...
    def reject_plan(self, task_id: str, feedback: str) -> TaskJson: ...
    def request_changes(self, task_id: str, feedback: str) -> TaskJson: ...
    def events(self, task_id: str, after: int = 0) -> Iterator[Event]: ...


class HttpClient:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self._http = httpx.Client(
            base_url=base_url, timeout=30.0, headers={"authorization": f"Bearer {token}"}
        )

    def _call(self, method: str, path: str, body: object = None) -> Any:
        try:
            resp = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ClientError(
                "server_unreachable", f"could not reach {self.base_url}: {exc}", 503
            ) from exc
        try:
            data = resp.json()
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError:
            raise ClientError(
                "not_errand",
                f"{self.base_url} answered {resp.status_code} with something other than Errand's "
                "JSON; is another program on that port? Stop it or remove the stale server.json",
                503,
            ) from None
        if resp.status_code >= 400:
            err = data.get("error", {})
            raise ClientError(
                err.get("code", "error"), err.get("message", resp.text), resp.status_code
            )
        return data

    def create(self, req: CreateTask) -> TaskJson:
        return dict(self._call("POST", "/api/tasks", req.model_dump()))

    def get(self, task_id: str) -> TaskJson:
        return dict(self._call("GET", f"/api/tasks/{task_id}"))

    def list(self) -> list[TaskJson]:
        return list(self._call("GET", "/api/tasks")["tasks"])

    def approve_plan(self, task_id: str, plan: Plan | None) -> TaskJson:
        body = {"plan": plan.model_dump()} if plan else {}
        return dict(self._call("POST", f"/api/tasks/{task_id}/plan/approve", body))

    def approve_diff(self, task_id: str) -> TaskJson:
        return dict(self._call("POST", f"/api/tasks/{task_id}/diff/approve", {}))

    def cancel(self, task_id: str) -> TaskJson:
        return dict(self._call("POST", f"/api/tasks/{task_id}/cancel", {}))

    def retry(self, task_id: str, from_start: bool) -> TaskJson:
        body = {"from_start": from_start}
        return dict(self._call("POST", f"/api/tasks/{task_id}/retry", body))

    def reject_plan(self, task_id: str, feedback: str) -> TaskJson:
        body = {"feedback": feedback}
        return dict(self._call("POST", f"/api/tasks/{task_id}/plan/reject", body))

    def request_changes(self, task_id: str, feedback: str) -> TaskJson:
        body = {"feedback": feedback}
        return dict(self._call("POST", f"/api/tasks/{task_id}/diff/request-changes", body))

    def events(self, task_id: str, after: int = 0) -> Iterator[Event]:
        """Follows the SSE stream, reconnecting with Last-Event-ID if it drops; gives up when
        the server stays unreachable for RECONNECT_FOR_S."""
        cursor = after
        down_since: float | None = None
        while True:
            headers = {"Last-Event-ID": str(cursor)} if cursor else {}
            try:
                with self._http.stream(
                    "GET", f"/api/tasks/{task_id}/events", headers=headers, timeout=None
                ) as resp:
                    if resp.status_code >= 400:
                        data = json.loads(resp.read())
                        err = data.get("error", {})
                        raise ClientError(
                            err.get("code", "error"), err.get("message", ""), resp.status_code
                        )
                    data_line = ""
                    for line in resp.iter_lines():
                        if line.startswith("data: "):
                            data_line = line[6:]
                        elif line == "" and data_line:
                            down_since = None
                            event = Event.model_validate_json(data_line)
                            cursor = event.id
                            data_line = ""
                            yield event
                    return  # the server closed the stream: the task is terminal
            except httpx.TransportError as exc:
                now = time.monotonic()
                down_since = down_since or now
                if now - down_since > RECONNECT_FOR_S:
                    raise ClientError(
                        "server_unreachable",
                        f"lost the event stream from {self.base_url} ({exc}); is `errand up` "
                        "still running? The task goes on: `errand task show` reports it",
                        503,
                    ) from exc
                time.sleep(1.0)


class LocalClient:
    """Works on the home in this process. The stack (queue worker, job pool) starts the first
    time the client follows a task, since only then must work happen while it waits; the
    caller stops it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        deps = stack.deps
        self._store = deps.store
        # as this machine's user: their own model keys pay for their tasks, as over HTTP
        from shared.account_wiring import local_login

        self._service = deps.task_service(deps.users.ensure_local_user(local_login()))

    def create(self, req: CreateTask) -> TaskJson:
        return task_public(self._service.create(req))

    def get(self, task_id: str) -> TaskJson:
        return task_public(self._service.get(task_id))

    def list(self) -> list[TaskJson]:
        return [task_public(t) for t in self._service.list().tasks]

    def approve_plan(self, task_id: str, plan: Plan | None) -> TaskJson:
        return task_public(self._service.approve_plan(task_id, ApprovePlan(plan=plan)))

    def approve_diff(self, task_id: str) -> TaskJson:
        return task_public(self._service.approve_diff(task_id))

    def cancel(self, task_id: str) -> TaskJson:
        return task_public(self._service.cancel(task_id))

    def retry(self, task_id: str, from_start: bool) -> TaskJson:
        return task_public(self._service.retry(task_id, Retry(from_start=from_start)))

    def reject_plan(self, task_id: str, feedback: str) -> TaskJson:
        req = ReviewFeedback(feedback=feedback)
        return task_public(self._service.reject_plan(task_id, req))

    def request_changes(self, task_id: str, feedback: str) -> TaskJson:
        req = ReviewFeedback(feedback=feedback)
        return task_public(self._service.request_changes(task_id, req))

    def events(self, task_id: str, after: int = 0) -> Iterator[Event]:
        from shared import sse

        self._service.get(task_id)
        self.stack.start()
        cursor = after
        while True:
            seen = self._store.latest_event_id()
            events = self._store.read_events(task_id, cursor)
            for event in events:
                cursor = event.id
                yield event
                if sse.ends_stream(event, self._store):
                    return
            if len(events) < sse.BATCH and sse.finished(self._store.get_task(task_id)):
                return  # ended, settled, and every event after its end was read
            self._store.wait_for_events(seen, 1.0)
