"""`errand doctor`'s model checks: the key the provider needs is there, and the endpoint answers
(a models-list request; with --live, a tiny completion through the real model adapter)."""

from __future__ import annotations

import httpx

from shared.ports import Message
from shared.settings import Settings
from shared.wiring import SCRIPTED_PREFIX, Deps

TIMEOUT_S = 5.0
# providers whose models list can be asked without spending anything
MODELS_LIST = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "mistral": "https://api.mistral.ai/v1",
    "groq": "https://api.groq.com/openai/v1",
    "deepseek": "https://api.deepseek.com",
}
# providers that run without an API key (local servers)
KEYLESS = {"ollama", "ollama_chat", "lm_studio", "vllm", "hosted_vllm", "llamafile"}


def check_model(settings: Settings, deps: Deps, live: bool) -> str:
    model = settings.model
    if not model:
        raise RuntimeError(
            "no default model: set ERRAND_MODEL (e.g. openai/gpt-4o-mini) and "
            "ERRAND_MODEL_API_KEY, or ERRAND_MODEL_API_BASE for a local OpenAI-compatible "
            "server; or pass --model per task"
        )
    if model.startswith(SCRIPTED_PREFIX) or model == "scripted":
        return f"default model {model} is the scripted model (for tests and the demo only)"
    provider = model.split("/", 1)[0] if "/" in model else "openai"
    key = settings.model_api_key.get_secret_value()
    base = settings.model_api_base.rstrip("/")
    if not key and not base and provider not in KEYLESS:
        raise RuntimeError(
            f"{model} needs a {provider} API key and none is set: set ERRAND_MODEL_API_KEY "
            "(or ERRAND_MODEL_API_BASE for a local OpenAI-compatible server)"
        )
    answered = _models_list(provider, base or MODELS_LIST.get(provider, ""), key)
    if live:
        _one_completion(deps, model)
        answered += "; a one-token call answered"
    elif not answered:
        answered = f"endpoint not checked for {provider} without --live"
    where = base or f"{provider}'s endpoint"
    key_note = "key set" if key else "no key"
    return f"default model {model} at {where} ({key_note}): {answered}"


def _models_list(provider: str, base: str, key: str) -> str:
    if not base:
        return ""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    if provider == "anthropic":
        headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    url = f"{base}/models"
    try:
        resp = httpx.get(url, headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise RuntimeError(
            f"the model endpoint {base} does not answer ({type(exc).__name__}: {exc}); start "
            "the model server or fix ERRAND_MODEL_API_BASE"
        ) from None
    if resp.status_code in (401, 403):
        raise RuntimeError(
            f"{base} refused the API key (HTTP {resp.status_code}); check ERRAND_MODEL_API_KEY"
        )
    if resp.status_code >= 500 and resp.status_code != 501:  # 501: no models list there
        raise RuntimeError(f"{base} answered HTTP {resp.status_code}; the model server is unwell")
    if resp.status_code == 200:
        try:
            count = len(resp.json().get("data", []))
        except (ValueError, AttributeError):
            return "the endpoint answered"
        return f"the endpoint answered ({count} models listed)"
    return f"the endpoint answered (HTTP {resp.status_code} to a models list)"


def _one_completion(deps: Deps, model: str) -> None:
    from shared.errors import ErrandError

    try:
        deps.model(model, "doctor").complete(
            [Message(role="user", content="Reply with the single word: ok")], []
        )
    except ErrandError as exc:
        raise RuntimeError(f"the model call failed: {exc.message}") from None
