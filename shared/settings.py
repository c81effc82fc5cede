"""The only place that reads the environment. Built once at startup and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, SecretStr

from shared.domain import Model
from shared.errors import ConfigError
from shared.gcp_settings import (
    BLOB_STORES,
    QUEUES,
    SECRET_STORES,
    STORES,
    GcpSettings,
    gcp_from_env,
)

JOB_RUNNERS = ("pool", "process", "container", "cloudrun")


class Budgets(Model):
    max_steps: int = 40
    max_tokens: int = 400_000
    max_cost_usd: float = 5.0
    max_wall_s: float = 1800.0


class Quotas(Model):
    """The operator's per-user defaults (the seed's: 5 tasks a day, 2 at a time). Admins have
    no task quotas unless one is set for them; the monthly budget holds for everyone."""

    tasks_per_day: int = 5
    concurrent_tasks: int = 2
    monthly_budget_usd: float = 50.0


class GitHubOAuth(Model):
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    web_url: str = "https://github.com"  # authorize and access_token live here
    api_url: str = "https://api.github.com"


class SandboxLimits(Model):
    cpus: float = 1.0
    memory_mb: int = 4096
    pids: int = 512
    workspace_mb: int = 8192
    workspace_backend: str = "auto"  # auto | loop | tmpfs | none (no disk quota)


TOKENS = ("app", "broker")


class GitHubSettings(Model):
    """The GitHub App. Values left empty here come from what `errand github setup` stored."""

    api_url: str = "https://api.github.com"
    web_url: str = "https://github.com"
    app_id: int = 0
    private_key: SecretStr = SecretStr("")
    private_key_file: Path | None = None
    webhook_secret: SecretStr = SecretStr("")
    label: str = "errand"
    auto_approve: bool = False  # skip the plan gate for tasks started from GitHub
    public_url: str = ""  # where people reach this Errand (links in comments)
    # Where installation tokens come from: "app" signs with the App's key (the functions, and
    # every process of `errand up`); "broker" asks the token broker route for one, as the
    # execution of a stage (Cloud Run Jobs, whose account cannot read the key). See
    # shared/token_broker.py.
    tokens: str = "app"
    # The broker route's URL: where executions ask, and the audience of their OIDC token.
    token_broker_url: str = ""
    # The only account the broker hands tokens to (the stage executions' service account).
    job_service_account: str = ""


class Settings(Model):
    home: Path
    model: str = ""
    model_api_base: str = ""
    model_api_key: SecretStr = SecretStr("")
    model_timeout_s: float = 120.0  # one model call, before it counts as failed
    server_url: str = "http://127.0.0.1:8080"
    port: int = 8080
    speech: str = "piper"  # piper | espeak | google
    store: str = "sqlite"  # sqlite | firestore
    queue: str = "local"  # local | cloudtasks
    blobs: str = "fs"  # fs | gcs
    secrets: str = "local"  # local | kms
    gcp: GcpSettings = Field(default_factory=GcpSettings)
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
    # every model call asks for at most this many tokens: it bounds the worst-case cost that
    # budgets reserve before the call
    max_output_tokens: int = 8192
    budgets: Budgets = Field(default_factory=Budgets)
    sandbox: SandboxLimits = Field(default_factory=SandboxLimits)
    quotas: Quotas = Field(default_factory=Quotas)
    oauth: GitHubOAuth = Field(default_factory=GitHubOAuth)
    # the address browsers use (behind a proxy, or the cloud URL); '' = server_url
    public_url: str = ""
    # browser origins besides public_url allowed to call the API with CORS
    cors_origins: tuple[str, ...] = ()
    # local repositories (directories) users may use; in multi-user mode the only local ones
    local_repos: tuple[Path, ...] = ()
    # the server's own token (queue deliveries, the CLI on this machine); set by the stack
    internal_token: SecretStr = SecretStr("")
    # signs session cookies and blob URLs; '' = a key file under ERRAND_HOME
    session_secret: SecretStr = SecretStr("")

    @property
    def multi_user(self) -> bool:
        return bool(self.oauth.client_id)

    github: GitHubSettings = Field(default_factory=GitHubSettings)

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
                store=_choice("ERRAND_STORE", e.get("ERRAND_STORE", "sqlite"), STORES),
                queue=_choice("ERRAND_QUEUE", e.get("ERRAND_QUEUE", "local"), QUEUES),
                blobs=_choice("ERRAND_BLOBS", e.get("ERRAND_BLOBS", "fs"), BLOB_STORES),
                secrets=_choice("ERRAND_SECRETS", e.get("ERRAND_SECRETS", "local"), SECRET_STORES),
                gcp=gcp_from_env(e),
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
                max_output_tokens=_int(e, "ERRAND_MAX_OUTPUT_TOKENS", 8192, 256),
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
                quotas=Quotas(
                    tasks_per_day=_int(e, "ERRAND_TASKS_PER_DAY", 5, 0),
                    concurrent_tasks=_int(e, "ERRAND_CONCURRENT_TASKS", 2, 0),
                    monthly_budget_usd=_float(e, "ERRAND_MONTHLY_BUDGET_USD", 50),
                ),
                oauth=_oauth(e),
                public_url=e.get("ERRAND_PUBLIC_URL", "").rstrip("/"),
                cors_origins=tuple(
                    o.strip().rstrip("/")
                    for o in e.get("ERRAND_CORS_ORIGINS", "").split(",")
                    if o.strip()
                ),
                local_repos=tuple(
                    Path(p).expanduser() for p in e.get("ERRAND_LOCAL_REPOS", "").split(":") if p
                ),
                internal_token=SecretStr(e.get("ERRAND_INTERNAL_TOKEN", "")),
                session_secret=SecretStr(e.get("ERRAND_SESSION_SECRET", "")),
                github=_github(e),
                budgets=Budgets(
                    max_steps=_int(e, "ERRAND_MAX_STEPS", 40, 1),
                    max_tokens=_int(e, "ERRAND_MAX_TOKENS", 400000, 1000),
                    max_cost_usd=_float(e, "ERRAND_MAX_COST_USD", 5),
                    max_wall_s=_float(e, "ERRAND_MAX_WALL_S", 1800),
                ),
            )
        except ValueError as exc:
            raise ConfigError(f"invalid Errand setting in the environment: {exc}") from None


def _oauth(e: Mapping[str, str]) -> GitHubOAuth:
    client_id = e.get("ERRAND_GITHUB_CLIENT_ID", "").strip()
    secret = e.get("ERRAND_GITHUB_CLIENT_SECRET", "").strip()
    if bool(client_id) != bool(secret):
        raise ValueError(
            "GitHub sign-in needs both ERRAND_GITHUB_CLIENT_ID and ERRAND_GITHUB_CLIENT_SECRET "
            "(from your GitHub OAuth app); set both, or neither for single-user mode"
        )
    return GitHubOAuth(
        client_id=client_id,
        client_secret=SecretStr(secret),
        web_url=e.get("ERRAND_GITHUB_URL", "https://github.com").rstrip("/"),
        api_url=e.get("ERRAND_GITHUB_API_URL", "https://api.github.com").rstrip("/"),
    )


def _github(e: Mapping[str, str]) -> GitHubSettings:
    app_id = _int(e, "ERRAND_GITHUB_APP_ID", 0, 0)
    key_file = e.get("ERRAND_GITHUB_PRIVATE_KEY_FILE", "").strip()
    label = e.get("ERRAND_GITHUB_LABEL", "errand").strip()
    if not label:
        raise ValueError("ERRAND_GITHUB_LABEL is empty: name the label that starts a task")
    return GitHubSettings(
        api_url=e.get("ERRAND_GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        web_url=e.get("ERRAND_GITHUB_URL", "https://github.com").rstrip("/"),
        app_id=app_id,
        private_key=SecretStr(e.get("ERRAND_GITHUB_PRIVATE_KEY", "")),
        private_key_file=Path(key_file).expanduser() if key_file else None,
        webhook_secret=SecretStr(e.get("ERRAND_GITHUB_WEBHOOK_SECRET", "")),
        label=label,
        auto_approve=_bool(e, "ERRAND_GITHUB_AUTO_APPROVE"),
        public_url=e.get("ERRAND_PUBLIC_URL", "").rstrip("/"),
        tokens=_choice("ERRAND_GITHUB_TOKENS", e.get("ERRAND_GITHUB_TOKENS", "app"), TOKENS),
        token_broker_url=e.get("ERRAND_GITHUB_TOKEN_BROKER_URL", "").strip(),
        job_service_account=e.get("ERRAND_JOB_SERVICE_ACCOUNT", "").strip(),
    )


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}={raw!r}: use true or false")


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
