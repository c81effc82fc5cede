"""Failpoints: named places where an execution can be made to die on purpose, for the
fault-injection tests (`ERRAND_FAILPOINTS=publish.after_push,execute.after_step`).

A failpoint that is switched on kills its own process with SIGKILL — no cleanup, no lease
released, exactly as a machine losing power or the kernel's OOM killer would — the first time
each task reaches it; a marker file under ERRAND_HOME makes the redelivered stage pass it. Off
(the default), a failpoint costs one set lookup."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

log = logging.getLogger("errand.failpoints")

# Every failpoint in the code, so that a misspelt setting is refused rather than ignored.
NAMES = frozenset(
    {
        "prepare.after_clone",
        "prepare.after_install",
        "prepare.after_baseline",
        "plan.after_model",
        "execute.after_step",
        "execute.after_command",
        "verify.after_tests",
        "publish.after_push",
        "summarize.after_speech",
        # between moving the task on and enqueueing its next stage
        *(f"{s}.before_enqueue" for s in ("prepare", "plan", "execute", "verify", "publish")),
    }
)


def hit(enabled: frozenset[str], markers: Path, task_id: str, name: str) -> None:
    """Dies here when `name` is enabled and this task has not died here before."""
    if name not in enabled:
        return
    markers.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(markers / f"{task_id}.{name}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    log.warning("failpoint %s: killing this execution of %s", name, task_id)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.kill(os.getpid(), signal.SIGKILL)
