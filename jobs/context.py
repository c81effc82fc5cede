"""What a stage gets to work with: the task, the ports, and small helpers that keep every stage
consistent about events, transitions and the next delivery."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import JsonValue

from shared import failpoints, paths
from shared.domain import EventKind, Stage, StageRequest, Status, Task, Timings, Usage
from shared.ports import CommandResult
from shared.services import transition
from shared.wiring import Deps

# Secrets must never reach an event; this also catches keys a repository printed by accident.
_SECRET_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"(?i)(api[_-]?key|token|secret|password)(\s*[=:]\s*)(\S{6,})"),
]


@dataclass
class StageContext:
    deps: Deps
    request: StageRequest
    task: Task
    usage: Usage = field(default_factory=Usage)  # this stage's, not yet added to the task

    @property
    def workspace(self) -> Path:
        return paths.workspace(self.deps.settings.home, self.task.id)

    @property
    def repo_dir(self) -> Path:
        return self.workspace / "repo"

    def scrub(self, text: str) -> str:
        for secret in self.deps.known_secrets():
            if secret:
                text = text.replace(secret, "[secret]")
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(
                lambda m: (
                    (m.group(1) + m.group(2) + "[secret]") if m.lastindex == 3 else "[secret]"
                ),
                text,
            )
        return text

    def log(self, message: str, **data: JsonValue) -> None:
        payload: dict[str, JsonValue] = {
            "message": self.scrub(message),
            "stage": self.request.stage.value,
        }
        payload.update(data)
        self.deps.store.append_event(self.task.id, EventKind.LOG, payload)

    def emit(self, kind: EventKind, data: dict[str, JsonValue]) -> None:
        self.deps.store.append_event(self.task.id, kind, data)

    def refresh(self) -> Task:
        self.task = self.deps.store.get_task(self.task.id)
        return self.task

    def save(self, **changes: object) -> Task:
        """Compare-and-set update of fields without changing status."""
        updated = self.task.model_copy(update=changes)
        self.task = self.deps.store.update_task(updated)
        return self.task

    def move(self, target: Status, **changes: object) -> Task:
        """Transitions the task, adding this stage's usage and timings to it."""
        changes.setdefault("usage", self.task.usage.plus(self.usage))
        changes.setdefault("timings", self.task.timings.plus(self.deps.timings))
        self.task = transition(self.deps.store, self.task, target, **changes)
        self.usage = Usage()
        self.deps.timings = Timings()
        return self.task

    def record_usage(self, usage: Usage, duration_s: float) -> None:
        self.usage = self.usage.plus(usage)
        self.deps.timings.model_s += duration_s
        total = self.task.usage.plus(self.usage)
        self.emit(EventKind.COST, total.model_dump())

    def failpoint(self, name: str) -> None:
        """Dies here when the fault-injection tests switched `name` on (shared/failpoints.py)."""
        settings = self.deps.settings
        failpoints.hit(
            settings.failpoints, paths.failpoint_markers(settings.home), self.task.id, name
        )

    def advance(self, target: Status, stage: Stage, **changes: object) -> Task:
        """Moves the task on and enqueues the stage that works in the new status (a crash in
        between is repaired by the sweeper: the stage's lease is still held)."""
        self.move(target, **changes)
        self.failpoint(f"{self.request.stage.value}.before_enqueue")
        self.deps.queue.enqueue(
            StageRequest(task_id=self.task.id, stage=stage, round=self.task.round)
        )
        return self.task

    def quiet_sandbox(self, command: str, timeout_s: float = 120) -> CommandResult:
        """A bookkeeping command in the repository (file tools, checkpoints): not logged."""
        result = self.deps.sandbox().run(
            self.workspace, command, cwd="/workspace/repo", timeout_s=timeout_s
        )
        self.deps.timings.sandbox_s += result.duration_s
        return result

    def sandbox(
        self, command: str, *, network: bool = False, timeout_s: float, cwd: str = "/workspace/repo"
    ) -> CommandResult:
        self.log(f"$ {command}")
        result = self.deps.sandbox().run(
            self.workspace, command, cwd=cwd, network=network, timeout_s=timeout_s
        )
        self.deps.timings.sandbox_s += result.duration_s
        return result
