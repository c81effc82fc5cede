"""What litellm knows about providers and models: for the model picker, the key a task uses,
and checking provider names of stored keys."""

from __future__ import annotations

from shared.adapters.litellm_model import import_litellm


def known_providers() -> frozenset[str]:
    """litellm's provider names (openai, anthropic, gemini, ...)."""
    litellm = import_litellm()
    return frozenset(getattr(p, "value", str(p)) for p in litellm.provider_list)


def provider_of(model: str) -> str:
    """The provider whose key a call to `model` uses ('' when litellm cannot tell)."""
    prefix = model.split("/", 1)[0] if "/" in model else ""
    if prefix and prefix in known_providers():
        return prefix
    litellm = import_litellm()
    try:
        return str(litellm.get_llm_provider(model)[1])
    except Exception:
        return ""


def chat_models(provider: str, limit: int = 200) -> list[str]:
    """Chat models of `provider` in litellm's cost map, as `provider/name` strings."""
    litellm = import_litellm()
    out: list[str] = []
    for name, info in litellm.model_cost.items():
        if info.get("litellm_provider") != provider or info.get("mode") != "chat":
            continue
        out.append(name if name.startswith(provider + "/") else f"{provider}/{name}")
    return sorted(out)[:limit]
