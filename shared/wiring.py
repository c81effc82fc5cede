"""The one place that picks adapters from settings. Nothing else imports an adapter module."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from shared import paths
from shared.domain import StageRequest, Task, Timings
from shared.errors import BudgetExceeded, ConfigError, ErrandError
from shared.ports import (
    Blobs,
    Forge,
    Jobs,
    Leases,
    ModelClient,
    Queue,
    Sandbox,
    Secrets,
    Store,
    Synthesizer,
)
from shared.settings import Settings
from shared.wiring_accounts import AccountPorts
from shared.wiring_github import GitHubPorts

if TYPE_CHECKING:
    from shared.adapters.local_queue import LocalQueue
    from shared.adapters.workspace_fs import WorkspaceVolumes
    from shared.envcache import EnvCache
    from shared.oidc import OidcVerifier

SCRIPTED_PREFIX = "scripted:"


class Background(Protocol):
    """Work a long-lived process does on a thread of its own."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Deps(AccountPorts, GitHubPorts):
    """Adapters for one process, built lazily: the API server never pays for a model or a voice,
    a job process builds only what its stage touches."""

    settings: Settings
    deliver: Callable[[bytes], int] | None = None
    job_env: Mapping[str, str] = field(default_factory=dict)  # what job processes inherit
    timings: Timings = field(default_factory=Timings)
    revealed: list[str] = field(default_factory=list)  # user keys decrypted here, to scrub
    # the local server's token: Cloud Tasks emulator deliveries carry it (the real service
    # sends OIDC tokens instead, verified by the dispatch function)
    dispatch_token: str = ""
    # the stage this execution runs, its lease holder set (jobs/runner.py): what a brokered
    # GitHub token is asked for. Broker mode is for processes that run one stage (a Cloud Run
    # execution); `errand up`'s pooled processes sign with the App key and ignore it.
    stage: StageRequest | None = None

    @cached_property
    def store(self) -> Store:
        if self.settings.store == "firestore":
            from shared.adapters.firestore_store import FirestoreStore

            return FirestoreStore(self.settings.gcp)
        from shared.adapters.sqlite_store import SqliteStore

        paths.ensure_home(self.settings.home)
        return SqliteStore(paths.db(self.settings.home))

    @property
    def leases(self) -> Leases:
        store = self.store
        if not isinstance(store, Leases):
            raise ConfigError(f"the {type(store).__name__} store keeps no stage leases")
        return store

    @cached_property
    def local_queue(self) -> LocalQueue:
        from shared.adapters.local_jobs import LOCAL_JOBS, NewWorkGate
        from shared.adapters.local_queue import LocalQueue

        s = self.settings
        deliver = self.deliver or _no_delivery
        return LocalQueue(
            paths.db(s.home),
            deliver,
            max_attempts=s.queue_max_attempts,
            min_backoff_s=s.queue_min_backoff_s,
            max_backoff_s=s.queue_max_backoff_s,
            on_dead=self._delivery_dead,
            gate=NewWorkGate(self._running_jobs, s.max_jobs) if s.jobs in LOCAL_JOBS else None,
        )

    def _running_jobs(self) -> int:
        from shared.adapters.local_jobs import Running

        running = getattr(self.jobs, "running", None)
        return running.count() if isinstance(running, Running) else 0

    def checkpointer(self) -> Background | None:
        """Keeps the SQLite file's write-ahead log short for the processes writing to it."""
        if self.settings.store == "firestore":
            return None
        from shared.adapters.sqlite_db import Checkpointer

        return Checkpointer(paths.db(self.settings.home))

    @property
    def uses_local_queue(self) -> bool:
        return self.settings.queue == "local"

    @property
    def queue(self) -> Queue:
        if not self.uses_local_queue:
            return self._cloud_queue
        return self.local_queue

    @cached_property
    def _cloud_queue(self) -> Queue:
        from shared.gcp_wiring import cloud_tasks_queue

        return cloud_tasks_queue(self.settings, self.dispatch_token)

    @cached_property
    def dispatch_verifier(self) -> OidcVerifier:
        """Checks that calls to /api/dispatch come from Cloud Tasks."""
        from shared.gcp_wiring import dispatch_verifier

        return dispatch_verifier(self.settings)

    @cached_property
    def sweep_verifier(self) -> OidcVerifier:
        """Checks that calls to /api/sweep come from Cloud Scheduler."""
        from shared.gcp_wiring import sweep_verifier

        return sweep_verifier(self.settings)

    @cached_property
    def blobs(self) -> Blobs:
        if self.settings.blobs == "gcs":
            from shared.adapters.gcs_blobs import GcsBlobs

            return GcsBlobs(self.settings.gcp)
        from shared.adapters.fs_blobs import FsBlobs

        return FsBlobs(paths.blobs(self.settings.home), self.settings.server_url)

    @cached_property
    def forge(self) -> Forge:
        from shared.adapters.forge_router import ForgeRouter
        from shared.adapters.local_git import LocalGitForge

        return ForgeRouter(LocalGitForge(), lambda: self.github, self.github_app.web_url)

    @cached_property
    def secrets(self) -> Secrets:
        if self.settings.secrets == "kms":
            from shared.adapters.kms_secrets import KmsSecrets

            return KmsSecrets(self.settings.gcp)
        from shared.adapters.local_secrets import LocalSecrets

        return LocalSecrets(paths.key_file(self.settings.home))

    @cached_property
    def _sandbox(self) -> Sandbox:
        from shared.adapters.bwrap_sandbox import BwrapSandbox

        lim = self.settings.sandbox
        return BwrapSandbox(memory_mb=lim.memory_mb, pids=lim.pids, cpus=lim.cpus)

    def sandbox(self) -> Sandbox:
        return self._sandbox

    @cached_property
    def volumes(self) -> WorkspaceVolumes:
        """Per-task workspace filesystems with a disk quota."""
        from shared.adapters.workspace_fs import WorkspaceVolumes

        lim = self.settings.sandbox
        return WorkspaceVolumes(lim.workspace_mb, backend=lim.workspace_backend)

    def release_workspace(self, task_id: str) -> None:
        from shared.adapters.workspace_fs import release

        release(paths.workspace(self.settings.home, task_id))

    def model(self, name: str, label: str, task: Task | None = None) -> ModelClient:
        """`label` names the conversation (the stage, plus the round for fix rounds): the
        scripted model replays the turns recorded under it. With `task`, calls use the key
        that pays for the task and are metered against its budgets."""
        if task is not None:
            from shared.account_wiring import user_model

            return user_model(self, task, name, label)
        return self.base_model(name, label)

    def base_model(
        self, name: str, label: str, api_key: str | None = None, api_base: str | None = None
    ) -> ModelClient:
        """A model client with the operator's key, or the given key and base URL."""
        if name.startswith(SCRIPTED_PREFIX) or name == "scripted":
            from shared.adapters.scripted_model import ScriptedModel

            path = name.removeprefix(SCRIPTED_PREFIX)
            if name == "scripted" or not path:
                raise ConfigError(
                    "the scripted model needs a file: use --model scripted:/path/to/turns.json"
                )
            return ScriptedModel.from_file(self._scripted_file(path), stage=label)
        from shared.adapters.litellm_model import LitellmModel, similar_models

        s = self.settings
        own = api_key is not None  # a user's key goes to the user's base URL, never ours
        model = LitellmModel(
            name,
            api_base=(api_base or "") if own else s.model_api_base,
            api_key=api_key if api_key is not None else s.model_api_key.get_secret_value(),
            price_per_mtok=s.model_price,
            max_output_tokens=s.max_output_tokens,
            timeout_s=s.model_timeout_s,
        )
        if not model.priced:
            close = similar_models(name)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            raise BudgetExceeded(
                f"model {name!r} is not in litellm's cost map, so the USD budget cannot be "
                f"enforced.{hint} If the name is right, set ERRAND_MODEL_PRICE=input,output "
                "(USD per million tokens; 0,0 for a free local model)"
            )
        return model

    @cached_property
    def jobs(self) -> Jobs:
        from shared.adapters.local_jobs import ProcessJobs, WarmPool

        s = self.settings
        env = dict(self.job_env)
        if s.jobs == "pool":
            return WarmPool(s.home, env)
        if s.jobs == "process":
            return ProcessJobs(s.home, env, on_crash=self._job_crashed)
        if s.jobs == "cloudrun":
            from shared.adapters.cloudrun_jobs import CloudRunJobs

            return CloudRunJobs(s.gcp)
        from shared.adapters.container_jobs import ContainerJobs, detect_engine

        engine = detect_engine()
        if engine is None:
            raise ConfigError(
                "ERRAND_JOBS=container but neither podman nor docker runs here; install one "
                "(see sandbox_image/README.md) or use ERRAND_JOBS=pool"
            )
        # A volume mounted inside one stage's container would vanish with it; until the host
        # provisions volumes for containers, container stages use plain directories.
        env["ERRAND_WORKSPACE_BACKEND"] = "none"
        return ContainerJobs(
            engine,
            s.job_image,
            s.home,
            env,
            volumes=[Path(v) for v in s.job_volumes],
            on_crash=self._job_crashed,
        )

    def start_jobs(self) -> None:
        """Warms the job pool up front, so the first stage does not pay for it."""
        from shared.adapters.local_jobs import WarmPool

        if isinstance(self.jobs, WarmPool):
            self.jobs.start()

    def stop_jobs(self) -> None:
        from shared.adapters.local_jobs import WarmPool

        if "jobs" in self.__dict__ and isinstance(self.jobs, WarmPool):
            self.jobs.stop()

    def _delivery_dead(self, body: bytes, error: str) -> None:
        from jobs.runner import fail_undeliverable

        fail_undeliverable(self, StageRequest.model_validate_json(body), error)

    def _job_crashed(self, request: StageRequest, how: str, log_path: str) -> None:
        from jobs.runner import execution_died

        execution_died(self, request, how, log_path)

    @cached_property
    def env_cache(self) -> EnvCache:
        from shared.envcache import EnvCache

        return EnvCache(paths.env_cache(self.settings.home))

    @cached_property
    def runtime_version(self) -> str:
        """Part of every environment cache key: a new interpreter or image invalidates them."""
        from shared.envcache import runtime_version

        return runtime_version()

    def _scripted_file(self, path: str) -> Path:
        """Task creators choose the model string, so a scripted file may only come from the
        bundled demo or ERRAND_SCRIPTED_DIR: never an arbitrary file of this host."""
        from shared.demo import turns_path

        allowed = [turns_path().parent.resolve()]
        if self.settings.scripted_dir is not None:
            allowed.append(self.settings.scripted_dir.resolve())
        resolved = Path(path).resolve()
        if not any(resolved.is_relative_to(root) for root in allowed):
            raise ConfigError(
                f"scripted model files must live in {' or '.join(map(str, allowed))}; set "
                "ERRAND_SCRIPTED_DIR on the server to allow another directory"
            )
        return resolved

    @cached_property
    def speech(self) -> Synthesizer:
        if self.settings.speech.strip().lower() == "google":
            from shared.adapters.google_speech import GoogleSpeech

            return GoogleSpeech(self.settings.gcp)
        from shared.adapters.speech import make_speech

        return make_speech(self.settings.speech)

    def known_secrets(self) -> list[str]:
        """Values that must be scrubbed from anything stored or shown: the operator's key,
        every user key and every GitHub installation token this process used."""
        keys = [self.settings.model_api_key.get_secret_value(), *self.revealed]
        if "github" in self.__dict__:
            keys += sorted(self.github.issued)
        return [k for k in keys if len(k) >= 6]


def _no_delivery(body: bytes) -> int:
    raise ConfigError("this process only enqueues; deliveries are made by the server's worker")


def prewarm() -> None:
    """Imports what stages need, and makes one local model call, so that forked job executions
    start warm. Call only in a process that forks afterwards and holds no threads yet."""
    from shared.adapters import (  # noqa: F401
        bwrap_sandbox,
        forge_router,
        fs_blobs,
        local_git,
        local_queue,
        scripted_model,
        speech,
        sqlite_store,
    )
    from shared.adapters.litellm_warm import warm_completion

    # Not only the import: the first completion loads provider code and the HTTP stack (~1 s),
    # which every forked stage would otherwise pay before its first request left. A failed
    # warm-up costs only that time, so it is reported (the pool's log) rather than fatal.
    try:
        warm_completion()
    except (ErrandError, OSError) as exc:
        # stderr: the pool's stdout carries its "ready" handshake
        print(
            f"warning: the model warm-up failed ({exc}); stages pay it on their first call",
            file=sys.stderr,
        )
