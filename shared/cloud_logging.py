"""Structured logs that Cloud Logging understands: one JSON object per line on stderr, with
`severity`, the message, `logging.googleapis.com/labels` (task id and stage) and
`logging.googleapis.com/trace` (the request's trace), so a task can be followed across the
API, dispatch and its job executions in Logs Explorer (README: "Following a task in Google
Cloud"). Used when running in the cloud (or with ERRAND_LOG_FORMAT=json); plain text otherwise.

Labels and trace live in context variables: `labelled(...)` sets them for a request or a stage,
and every log record made inside (in that thread or task) carries them."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_LABELS: ContextVar[dict[str, str]] = ContextVar("errand_log_labels", default={})  # noqa: B039
_TRACE: ContextVar[str] = ContextVar("errand_log_trace", default="")
_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/|$)")  # X-Cloud-Trace-Context: TRACE/SPAN;o=1
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


@contextmanager
def labelled(task_id: str = "", stage: str = "", trace: str = "") -> Iterator[None]:
    """Adds the task id, stage and trace to every record logged inside."""
    labels = dict(_LABELS.get())
    labels.update({k: v for k, v in (("task_id", task_id), ("stage", stage)) if v})
    label_token = _LABELS.set(labels)
    trace_token = _TRACE.set(trace or _TRACE.get())
    try:
        yield
    finally:
        _TRACE.reset(trace_token)
        _LABELS.reset(label_token)


def trace_id(cloud_trace_context: str, traceparent: str = "") -> str:
    """The trace id of a request from its X-Cloud-Trace-Context or W3C traceparent header."""
    match = _CLOUD_TRACE.match(cloud_trace_context.strip()) or _TRACEPARENT.match(
        traceparent.strip()
    )
    return match.group(1).lower() if match else ""


class CloudLoggingFormatter(logging.Formatter):
    def __init__(self, project: str) -> None:
        super().__init__()
        self._project = project

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        entry: dict[str, object] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": message,
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname,
                "line": record.lineno,
                "function": record.funcName,
            },
        }
        labels = _LABELS.get()
        if labels:
            entry["logging.googleapis.com/labels"] = labels
        trace = _TRACE.get()
        if trace and self._project:
            entry["logging.googleapis.com/trace"] = f"projects/{self._project}/traces/{trace}"
        return json.dumps(entry, default=str)


def configure(log_format: str, project: str) -> None:
    """Sets up the root logger once per process: JSON lines for Cloud Logging, or text."""
    root = logging.getLogger()
    if log_format != "json":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CloudLoggingFormatter(project))
    root.handlers = [handler]
    root.setLevel(logging.INFO)
