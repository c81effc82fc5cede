"""`errand doctor`: checks what a task needs on this machine and says how to fix each gap."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from shared.settings import Settings
from shared.wiring import Deps


def _check_home(settings: Settings, deps: Deps) -> str:
    settings.home.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=settings.home):
        pass
    return f"{settings.home} is writable"


def _check_bwrap(settings: Settings, deps: Deps) -> str:
    if not shutil.which("bwrap"):
        raise RuntimeError("bubblewrap is missing: sudo apt-get install -y bubblewrap")
    with tempfile.TemporaryDirectory() as ws:
        result = deps.sandbox().run(Path(ws), "echo sandbox-ok", timeout_s=30)
    if "sandbox-ok" not in result.output:
        raise RuntimeError(f"bubblewrap could not run a command: {result.output[-300:]}")
    limits = getattr(deps.sandbox(), "limits_active", [])
    return f"bubblewrap runs commands ({result.duration_s * 1000:.0f} ms); limits: {limits}"


def _check_speech(settings: Settings, deps: Deps) -> str:
    speech = deps.speech.synthesize("Errand is ready.")
    return f"{settings.speech} voice works ({speech.duration_s:.1f} s of audio)"


def _check_model(settings: Settings, deps: Deps) -> str:
    if not settings.model:
        raise RuntimeError(
            "no default model: set ERRAND_MODEL (e.g. openai/gpt-4o-mini) and "
            "ERRAND_MODEL_API_KEY, or ERRAND_MODEL_API_BASE for a local OpenAI-compatible "
            "server; or pass --model per task"
        )
    base = settings.model_api_base or "the provider's default endpoint"
    key = "set" if settings.model_api_key.get_secret_value() else "not set"
    return f"default model {settings.model} at {base} (API key {key})"


CHECKS: list[tuple[str, Callable[[Settings, Deps], str]]] = [
    ("home", _check_home),
    ("sandbox", _check_bwrap),
    ("speech", _check_speech),
    ("model", _check_model),
]


def run_doctor(settings: Settings) -> int:
    deps = Deps(settings, job_env=dict(os.environ))
    failures = 0
    for name, check in CHECKS:
        try:
            print(f"ok    {name:<8} {check(settings, deps)}")
        except Exception as exc:
            failures += 1
            print(f"FIX   {name:<8} {exc}")
    return 1 if failures else 0
