"""ModelClient over litellm: any provider litellm knows, or any OpenAI-compatible endpoint.

litellm is imported lazily (it takes about two seconds); `import_litellm()` does it once and may
be called ahead of time to pre-warm a process (see also `litellm_warm`).

Rules worth knowing when wiring this adapter:
- With `api_base` set, a model name litellm cannot place (no provider prefix, e.g. `llama3`) is
  sent to that endpoint as an OpenAI-compatible model. Without `api_base` such a name is an error.
- With `api_base` set and no `api_key`, a placeholder key is sent: litellm would otherwise pick
  up OPENAI_API_KEY from the environment and hand a real key to an arbitrary endpoint.
- Cost: `price_per_mtok` (USD per million input, output tokens) when given, else litellm's cost
  map; a model in neither costs 0.0 and `priced` is False so budgets can say so.
- Transient failures (connection, HTTP 429/5xx) are retried `retries` times with exponential
  backoff; everything else fails at once. Errors are `ModelError`s that never contain the key.

Concurrency: an instance holds no per-call state and may be shared between threads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from shared.adapters import model_wait
from shared.domain import Usage
from shared.errors import ConfigError, ModelError
from shared.ports import Completion, Message, ToolCall, ToolSpec

_PLACEHOLDER_KEY = "no-key"
_DETAIL_CHARS = 400
_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
_MISSING_KEY = re.compile(r"(?i)missing (credentials|\w+ api key)|api_key client option")


def import_litellm() -> ModuleType:
    """Import and quiet litellm. Idempotent; the first call takes about two seconds."""
    # Without this litellm downloads its price map at import and starts a retry thread.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    with warnings.catch_warnings():
        # litellm's response types make pydantic warn (ReadOnly TypedDict items) the first
        # time one is built, wherever that happens: build one here, quietly
        warnings.simplefilter("ignore")
        litellm.ModelResponse()
    if litellm.client_session is None:
        # OpenAI-compatible calls go through a client that times their requests on the wire.
        litellm.client_session = model_wait.client()
    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on stdout
    litellm.turn_off_message_logging = True  # prompts may hold code and secrets
    for name in _LITELLM_LOGGERS:
        # Failures reach the caller as ModelError; litellm's own log lines would repeat them
        # (with request details) on stderr.
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return litellm


class LitellmModel:
    def __init__(
        self,
        model: str,
        api_base: str = "",
        api_key: str = "",
        timeout_s: float = 120,
        price_per_mtok: tuple[float, float] | None = None,
        retries: int = 2,
        retry_backoff_s: float = 1.0,
        max_output_tokens: int = 0,
    ) -> None:
        if not model.strip():
            raise ConfigError("no model is configured: set ERRAND_MODEL (e.g. openai/gpt-4o-mini)")
        self.model = model.strip()
        self.api_base = api_base.rstrip("/")
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.price_per_mtok = price_per_mtok
        self.retries = max(0, retries)
        self.retry_backoff_s = retry_backoff_s
        self._priced: bool | None = None
        # > 0: every call asks for at most this many tokens, which bounds its worst-case cost
        self.max_output_tokens = max_output_tokens

    def __repr__(self) -> str:  # the key stays out of reprs and tracebacks
        return f"LitellmModel(model={self.model!r}, api_base={self.api_base!r})"

    @property
    def priced(self) -> bool:
        """Whether calls to this model have a known price (a budget in USD means something)."""
        if self._priced is None:
            self._priced = self.price_per_mtok is not None or _litellm_has_price(self.model)
        return self._priced

    def complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Completion:
        litellm = import_litellm()
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [to_openai_message(m) for m in messages],
            "timeout": self.timeout_s,
            "max_retries": 0,  # the OpenAI SDK's own retries; ours are below
            "num_retries": 0,
        }
        if tools:
            kwargs["tools"] = [to_openai_tool(t) for t in tools]
        if self._max_out(litellm):
            kwargs["max_tokens"] = self._max_out(litellm)
        if self.api_base:
            kwargs["api_base"] = self.api_base
            kwargs["api_key"] = self._api_key or _PLACEHOLDER_KEY
        elif self._api_key:
            kwargs["api_key"] = self._api_key
        if not self._provider_known(litellm):
            if not self.api_base:
                raise ModelError(
                    f"litellm does not know model '{self.model}' — use a provider-prefixed name"
                    " such as openai/gpt-4o-mini or set ERRAND_MODEL_API_BASE"
                )
            kwargs["custom_llm_provider"] = "openai"

        started = time.monotonic()
        with model_wait.measuring() as waited:
            response = self._call(litellm, kwargs)
        # Model time is the wait for the answer; what litellm does around it is Errand's own
        # overhead. A provider whose requests bypass the timed client is booked whole.
        duration = waited.seconds if waited.requests else time.monotonic() - started
        message = from_openai_message(response, turn=len(messages))
        usage = self._usage(litellm, response)
        return Completion(message=message, usage=usage, duration_s=round(duration, 3))

    def worst_case_usd(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> float:
        """An upper bound of what one call may cost: the prompt counted generously (its
        tokenizer's count plus a tenth, or a token per two characters when unknown) and a
        reply of `max_output_tokens`."""
        litellm = import_litellm()
        text = json.dumps(
            [to_openai_message(m) for m in messages] + [to_openai_tool(t) for t in tools]
        )
        try:
            counted = int(
                litellm.token_counter(
                    model=self.model, messages=[to_openai_message(m) for m in messages]
                )
            )
            tool_tokens = sum(len(json.dumps(to_openai_tool(t))) for t in tools) // 2
            prompt = int((counted + tool_tokens) * 1.1) + 64
        except Exception:
            prompt = len(text) // 2 + 64
        out = self._max_out(litellm) or 16_384
        if self.price_per_mtok is not None:
            price_in, price_out = self.price_per_mtok
            return (prompt * price_in + out * price_out) / 1_000_000
        return _cost_from_map(litellm, self.model, prompt, out)

    def _max_out(self, litellm: ModuleType) -> int:
        """max_output_tokens, lowered to what the model can produce when the map knows."""
        if self.max_output_tokens <= 0:
            return 0
        try:
            cap = int(litellm.get_model_info(self.model).get("max_output_tokens") or 0)
        except Exception:
            cap = 0
        return min(self.max_output_tokens, cap) if cap > 0 else self.max_output_tokens

    def _provider_known(self, litellm: ModuleType) -> bool:
        try:
            litellm.get_llm_provider(self.model)
        except Exception:
            return False
        return True

    def _call(self, litellm: ModuleType, kwargs: dict[str, Any]) -> Any:
        attempt = 0
        while True:
            try:
                return litellm.completion(**kwargs)
            except Exception as exc:
                if attempt < self.retries and _transient(litellm, exc):
                    time.sleep(self.retry_backoff_s * 2**attempt)
                    attempt += 1
                    continue
                message = self._describe(litellm, exc, attempts=attempt + 1)
                raise ModelError(scrub(message, self._api_key)) from None

    def _usage(self, litellm: ModuleType, response: Any) -> Usage:
        raw = getattr(response, "usage", None)
        prompt = int(getattr(raw, "prompt_tokens", 0) or 0)
        completion = int(getattr(raw, "completion_tokens", 0) or 0)
        cost = 0.0
        if self.price_per_mtok is not None:
            price_in, price_out = self.price_per_mtok
            cost = (prompt * price_in + completion * price_out) / 1_000_000
        elif self.priced:
            # Priced by the configured name, which `priced` checked; servers answer with
            # dated or deployment names the cost map may not hold.
            try:
                cost = float(
                    litellm.completion_cost(completion_response=response, model=self.model)
                )
            except Exception:
                cost = _cost_from_map(litellm, self.model, prompt, completion)
        return Usage(prompt_tokens=prompt, completion_tokens=completion, cost_usd=round(cost, 8))

    def _describe(self, litellm: ModuleType, exc: Exception, attempts: int) -> str:
        where = f"the model endpoint at {self.api_base}" if self.api_base else "the model provider"
        detail = _detail(exc)
        tried = f" (after {attempts} attempts)" if attempts > 1 else ""
        if _in_chain(exc, litellm.Timeout, TimeoutError):
            return (
                f"{where} did not answer model '{self.model}' within {self.timeout_s:g} s — check"
                " that the server is not overloaded, or use a faster model"
            )
        if _unreachable(exc):
            fix = (
                "check ERRAND_MODEL_API_BASE and that the server is running"
                if self.api_base
                else "check this machine's network access to the provider"
            )
            return f"could not reach {where}{tried}: {detail} — {fix}"
        if _MISSING_KEY.search(detail):
            return (
                f"no API key for model '{self.model}' — set ERRAND_MODEL_API_KEY or store a key"
                " for this provider"
            )
        if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError):
            return (
                f"{where} refused the API key for model '{self.model}': {detail} — check"
                " ERRAND_MODEL_API_KEY or the key stored for this provider"
            )
        if isinstance(exc, litellm.NotFoundError):
            return (
                f"{where} has no model '{self.model}' (HTTP 404): {detail} — check the model"
                " name, and that ERRAND_MODEL_API_BASE ends with the API root (often /v1)"
            )
        if isinstance(exc, litellm.ContextWindowExceededError):
            return f"the conversation is too long for model '{self.model}': {detail}"
        if isinstance(exc, litellm.RateLimitError):
            return (
                f"{where} rate-limited model '{self.model}'{tried}: {detail} — wait, or raise"
                " the provider quota"
            )
        if isinstance(exc, litellm.BadRequestError):
            return f"model '{self.model}' rejected the request (HTTP 400): {detail}"
        status = getattr(exc, "status_code", None)
        code = f" (HTTP {status})" if isinstance(status, int) else ""
        return f"{where} failed{code} for model '{self.model}'{tried}: {detail}"


def to_openai_message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
    if message.name:
        out["name"] = message.name
    return out


def to_openai_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def from_openai_message(response: Any, turn: int) -> Message:
    """The assistant message of a litellm response. Tool arguments stay raw text (malformed
    JSON included) because deciding what to do with them is the agent's job."""
    choices = getattr(response, "choices", None) or []
    if not choices:
        raise ModelError("the model answered with no choices — the endpoint may be misbehaving")
    raw = choices[0].message
    calls: list[ToolCall] = []
    for i, call in enumerate(getattr(raw, "tool_calls", None) or []):
        function = call.function
        arguments = function.arguments
        if arguments is None:
            arguments = ""
        elif not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        # Some servers omit ids; the turn number keeps generated ones unique per conversation.
        calls.append(
            ToolCall(
                id=call.id or f"call_{turn}_{i}",
                name=function.name or "",
                arguments=arguments,
            )
        )
    return Message(role="assistant", content=raw.content or "", tool_calls=calls)


def scrub(text: str, api_key: str = "") -> str:
    """Remove the key and anything that looks like a bearer token or provider key."""
    if len(api_key) >= 4:
        text = text.replace(api_key, "***")
    text = re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)
    return re.sub(r"\b(sk-|sk_|xai-|gsk_|AIza)[A-Za-z0-9_\-]{6,}", r"\1***", text)


def similar_models(model: str, n: int = 3) -> list[str]:
    """Names in litellm's cost map that look like `model` (for "did you mean" messages)."""
    import difflib

    litellm = import_litellm()
    known = list(litellm.model_cost)
    bare = model.split("/", 1)[-1]
    return difflib.get_close_matches(bare, known, n=n, cutoff=0.75)


def _cost_from_map(litellm: ModuleType, model: str, prompt: int, completion: int) -> float:
    """Per-token prices of `model` from the cost map. A call that cannot be priced is an error,
    never free: the USD budget must fail closed."""
    try:
        info = litellm.get_model_info(model)
        price_in = float(info["input_cost_per_token"])
        price_out = float(info.get("output_cost_per_token") or 0.0)
    except Exception as exc:
        raise ModelError(
            f"could not work out the cost of a call to {model!r} ({exc}); set "
            "ERRAND_MODEL_PRICE=input,output (USD per million tokens) so the budget holds"
        ) from None
    return prompt * price_in + completion * price_out


def _litellm_has_price(model: str) -> bool:
    litellm = import_litellm()
    try:
        info = litellm.get_model_info(model)
    except Exception:
        return False
    return info.get("input_cost_per_token") is not None


def _transient(litellm: ModuleType, exc: Exception) -> bool:
    if _in_chain(exc, litellm.Timeout, TimeoutError):
        return False  # the caller already waited the whole timeout once
    retryable = (
        litellm.RateLimitError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
        litellm.APIConnectionError,
    )
    return isinstance(exc, retryable) or _unreachable(exc)


def _unreachable(exc: BaseException) -> bool:
    import httpx
    import openai

    for link in _chain(exc):
        if isinstance(link, openai.APITimeoutError):
            return False
        if isinstance(link, openai.APIConnectionError | httpx.ConnectError | ConnectionError):
            return True
    return False


def _in_chain(exc: BaseException, *types: type[BaseException]) -> bool:
    return any(isinstance(link, types) for link in _chain(exc))


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _detail(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    # "litellm.InternalServerError: InternalServerError: OpenAIException - boom" -> "boom"
    text = re.sub(r"^litellm\.\w+:\s*(\w+:\s*)?", "", text)
    text = re.sub(r"^\w+Exception - ", "", text)
    text = " ".join(text.split())
    return text[:_DETAIL_CHARS] + ("…" if len(text) > _DETAIL_CHARS else "")
