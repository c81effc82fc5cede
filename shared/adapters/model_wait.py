"""How long a model call really waited for the model: the time its HTTP requests spent on the
wire (sent, answered, body read), apart from what litellm and the SDK do in the process around
them. Task timings book only this as model time; the rest counts as Errand's own overhead.

`client()` is the httpx client litellm sends OpenAI-compatible requests through (set as
`litellm.client_session`); `measuring()` collects the waits of the requests made inside it, per
thread. Errand never streams completions, so the transport reads each body before returning."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

_WAITS: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "errand_model_waits", default=None
)


class TimedTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        try:
            response = self._inner.handle_request(request)
            response.read()
            return response
        finally:
            waits = _WAITS.get()
            if waits is not None:
                waits.append(time.monotonic() - started)

    def close(self) -> None:
        self._inner.close()


def client() -> httpx.Client:
    return httpx.Client(transport=TimedTransport(httpx.HTTPTransport()), follow_redirects=True)


class Waited:
    """Seconds spent on the wire by the requests made while measuring; `requests` counts them
    (0: the call went through another client, e.g. a provider with its own HTTP handler)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    @property
    def requests(self) -> int:
        return len(self.waits)

    @property
    def seconds(self) -> float:
        return sum(self.waits)


@contextmanager
def measuring() -> Iterator[Waited]:
    waited = Waited()
    token = _WAITS.set(waited.waits)
    try:
        yield waited
    finally:
        _WAITS.reset(token)
