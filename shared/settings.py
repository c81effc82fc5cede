"""The only place that reads the environment. Built once at startup and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, SecretStr

from shared.domain import Model
from shared.errors import ConfigError

JOB_RUNNERS = ("pool", "process", "container")


class Budgets(Model):
    max_steps: int = 40
    max_tokens: int = 400_000
    max_cost_usd: float = 5.0
    max_wall_s: float = 1800.0


class SandboxLimits(Model):
    cpus: float = 1.0
    memory_mb: int = 4096
    pids: int = 512
    workspace_mb: int = 8192
    workspace_backend: str = "auto"  # auto | loop | tmpfs | none (no disk quota)


class Settings(Model):
    home: Path
    model: str = ""
    model_api_base: str = ""
    model_api_key: SecretStr = SecretStr("")
    model_timeout_s: float = 120.0  # one model call, before it counts as failed
    server_url: str = "http://127.0.0.1:8080"
    port: int = 8080
    speech: str = "piper"  # piper | espeak
    install_timeout_s: float = 900.0
    test_timeout_s: float = 600.0
    command_timeout_s: float = 300.0
    queue_max_attempts: int = 5
    queue_min_backoff_s: float = 0.5
    queue_max_backoff_s: float = 60.0
    # how many times a stage is started before its task fails (executions that died count)
    stage_attempts: int = 3
    # a running stage renews its lease every third of this; a dead one is redelivered after it
    lease_ttl_s: float = 30.0
    # how long a started execution has to take its lease over (a Cloud Run Job cold-starts)
    job_start_s: float = 60.0
    # fault injection for the tests (shared/failpoints.py); empty in normal use
    failpoints: frozenset[str] = frozenset()
    jobs: str = "pool"  # pool | process | container
    job_image: str = "errand-job"
    # host paths a container job needs besides ERRAND_HOME (local repositories it clones)
    job_volumes: tuple[str, ...] = ()
    fix_rounds: int = 2
    # where scripted-model files may live besides the bundled demo (tests, recorded demos)
    scripted_dir: Path | None = None
    # USD per million (input, output) tokens for models litellm has no price for
    model_price: tuple[float, float] | None = None
    budgets: Budgets = Field(default_factory=Budgets)
    sandbox: SandboxLimits = Field(default_factory=SandboxLimits)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        home = Path(e.get("ERRAND_HOME") or Path.home() / ".errand").expanduser()
        try:
            return cls(
                home=home,
                model=e.get("ERRAND_MODEL", ""),
                model_api_base=e.get("ERRAND_MODEL_API_BASE", ""),
                model_api_key=SecretStr(e.get("ERRAND_MODEL_API_KEY", "")),
                model_timeout_s=_float(e, "ERRAND_MODEL_TIMEOUT_S", 120),
                server_url=e.get("ERRAND_SERVER", "http://127.0.0.1:8080").rstrip("/"),
                port=_int(e, "ERRAND_PORT", 8080, 1),
                speech=e.get("ERRAND_SPEECH", "piper"),
                test_timeout_s=_float(e, "ERRAND_TEST_TIMEOUT_S", 600),
                install_timeout_s=_float(e, "ERRAND_INSTALL_TIMEOUT_S", 900),
                command_timeout_s=_float(e, "ERRAND_COMMAND_TIMEOUT_S", 300),
                jobs=_choice("ERRAND_JOBS", e.get("ERRAND_JOBS", "pool"), JOB_RUNNERS),
                job_image=e.get("ERRAND_JOB_IMAGE", "errand-job"),
                job_volumes=tuple(p for p in e.get("ERRAND_JOB_VOLUMES", "").split(":") if p),
                fix_rounds=_int(e, "ERRAND_FIX_ROUNDS", 2, 0),
                stage_attempts=_int(e, "ERRAND_STAGE_ATTEMPTS", 3, 1),
                lease_ttl_s=_float(e, "ERRAND_LEASE_TTL_S", 30),
                job_start_s=_float(e, "ERRAND_JOB_START_S", 60),
                failpoints=_failpoints(e.get("ERRAND_FAILPOINTS", "")),
                scripted_dir=Path(e["ERRAND_SCRIPTED_DIR"])
                if e.get("ERRAND_SCRIPTED_DIR")
                else None,
                model_price=_price(e.get("ERRAND_MODEL_PRICE", "")),
                sandbox=SandboxLimits(
                    cpus=_float(e, "ERRAND_SANDBOX_CPUS", 1),
                    memory_mb=_int(e, "ERRAND_SANDBOX_MEMORY_MB", 4096, 16),
                    pids=_int(e, "ERRAND_SANDBOX_PIDS", 512, 16),
                    workspace_mb=_int(e, "ERRAND_WORKSPACE_MB", 8192, 16),
                    workspace_backend=_choice(
                        "ERRAND_WORKSPACE_BACKEND",
                        e.get("ERRAND_WORKSPACE_BACKEND", "auto"),
                        ("auto", "loop", "tmpfs", "none"),
                    ),
                ),
                budgets=Budgets(
                    max_steps=_int(e, "ERRAND_MAX_STEPS", 40, 1),
                    max_tokens=_int(e, "ERRAND_MAX_TOKENS", 400000, 1000),
                    max_cost_usd=_float(e, "ERRAND_MAX_COST_USD", 5),
                    max_wall_s=_float(e, "ERRAND_MAX_WALL_S", 1800),
                ),
            )
        except ValueError as exc:
            raise ConfigError(f"invalid Errand setting in the environment: {exc}") from None


def _failpoints(raw: str) -> frozenset[str]:
    from shared.failpoints import NAMES

    names = frozenset(n.strip() for n in raw.split(",") if n.strip())
    unknown = sorted(names - NAMES)
    if unknown:
        raise ValueError(
            f"ERRAND_FAILPOINTS names unknown failpoints {', '.join(unknown)}; "
            f"known: {', '.join(sorted(NAMES))}"
        )
    return names


def _price(raw: str) -> tuple[float, float] | None:
    if not raw.strip():
        return None
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 2:
        raise ValueError(
            f"ERRAND_MODEL_PRICE={raw!r}: expected 'input,output' USD per million tokens, "
            "e.g. 0.15,0.60 (0,0 for a free local model)"
        )
    return float(parts[0]), float(parts[1])


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name}={value!r}: choose one of {', '.join(allowed)}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ValueError(f"{name}={value} is below the minimum of {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not value > 0:
        raise ValueError(f"{name}={value} must be greater than 0")
    return value
