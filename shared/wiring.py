"""The one place that picks adapters from settings. Nothing else imports an adapter module."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from shared import paths
from shared.domain import StageRequest, Timings
from shared.errors import BudgetExceeded, ConfigError
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

if TYPE_CHECKING:
    from shared.adapters.local_queue import LocalQueue
    from shared.adapters.workspace_fs import WorkspaceVolumes
    from shared.envcache import EnvCache

SCRIPTED_PREFIX = "scripted:"


@dataclass
class Deps:
    """Adapters for one process, built lazily: the API server never pays for a model or a voice,
    a job process builds only what its stage touches."""

    settings: Settings
    deliver: Callable[[bytes], int] | None = None
    job_env: Mapping[str, str] = field(default_factory=dict)  # what job processes inherit
    timings: Timings = field(default_factory=Timings)

    @cached_property
    def store(self) -> Store:
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
        )

    @property
    def queue(self) -> Queue:
        return self.local_queue

    @cached_property
    def blobs(self) -> Blobs:
        from shared.adapters.fs_blobs import FsBlobs

        return FsBlobs(paths.blobs(self.settings.home), self.settings.server_url)

    @cached_property
    def forge(self) -> Forge:
        from shared.adapters.local_git import LocalGitForge

        return LocalGitForge()

    @cached_property
    def secrets(self) -> Secrets:
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

    def model(self, name: str, label: str) -> ModelClient:
        """`label` names the conversation (the stage, plus the round for fix rounds): the
        scripted model replays the turns recorded under it."""
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
        model = LitellmModel(
            name,
            api_base=s.model_api_base,
            api_key=s.model_api_key.get_secret_value(),
            price_per_mtok=s.model_price,
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
        from shared.adapters.speech import make_speech

        return make_speech(self.settings.speech)

    def known_secrets(self) -> list[str]:
        """Values that must be scrubbed from anything stored or shown."""
        key = self.settings.model_api_key.get_secret_value()
        return [key] if len(key) >= 6 else []


def _no_delivery(body: bytes) -> int:
    raise ConfigError("this process only enqueues; deliveries are made by the server's worker")


def prewarm() -> None:
    """Imports what stages need so that forked job executions start warm."""
    from shared.adapters import (  # noqa: F401
        bwrap_sandbox,
        fs_blobs,
        local_git,
        local_queue,
        scripted_model,
        speech,
        sqlite_store,
    )
    from shared.adapters.litellm_model import import_litellm

    import_litellm()
