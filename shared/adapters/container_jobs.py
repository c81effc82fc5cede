"""Jobs adapter that runs each stage in the sandbox image (sandbox_image/Dockerfile) through
docker or podman: the one-machine counterpart of a Cloud Run Jobs execution.

The container is the trusted side (the job controller); untrusted commands still run in
bubblewrap inside it. bubblewrap needs, inside a rootful podman container on this project's hosts
(cgroup v1, runc), exactly these privileges beyond the defaults, found by removing one at a time:

- `--cap-add SYS_ADMIN`: slirp4netns' set-up enters the sandbox's network namespace (setns).
- `--security-opt unmask=/proc/*`: the kernel refuses a fresh /proc over a /proc with masked
  paths, and bwrap mounts one.
- `--device /dev/net/tun`: slirp4netns gives the sandbox its egress-only network.
- `-v /sys/fs/cgroup:/sys/fs/cgroup:rw`: the sandbox's memory/pids/CPU limits are cgroups made
  below the container's own group (the default mount is read-only).
Not needed: `--privileged`, `seccomp=unconfined`. The trade-off: these make the container a
packaging boundary, not a security one (root in it can write host cgroups), which is what it is
anyway: it holds the job's secrets and runs only Errand's code. The isolation boundary for
untrusted code is bubblewrap, unchanged. Docker uses different names for the /proc and
AppArmor relaxations (`systempaths=unconfined`, `apparmor=unconfined`); that set is untested.

The container shares the host network (model endpoints on localhost work as for local jobs),
mounts ERRAND_HOME at the same path (store, blobs, workspaces, job logs) plus `volumes` (local
repositories the local forge clones and pushes to), and receives only ERRAND_* variables, by
name, so that their values never appear on a command line."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from shared import paths
from shared.adapters.local_jobs import JobStartError, new_execution_id
from shared.domain import StageRequest

ENGINES = ("podman", "docker")
_ENGINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_COMMON_FLAGS = (
    *("--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"),
    *("--cap-add", "SYS_ADMIN", "--device", "/dev/net/tun"),
    *("-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"),
)
RUN_FLAGS = {
    "podman": (*_COMMON_FLAGS, "--runtime", "runc", "--security-opt", "unmask=/proc/*"),
    "docker": (
        *_COMMON_FLAGS,
        *("--security-opt", "systempaths=unconfined", "--security-opt", "apparmor=unconfined"),
    ),
}
# The image's entrypoint is `python -m jobs.entrypoint` (what Cloud Run runs); here the job's
# output goes to its log under ERRAND_HOME, as for local jobs.
_WRAPPER = 'exec python -m jobs.entrypoint "$1" >>"$2" 2>&1'
_ENGINE_TIMEOUT_S = 120.0


def detect_engine() -> str | None:
    """The path of the first of podman and docker that is installed and can reach its engine
    (a docker client without a daemon does not count); None when there is none."""
    for name in ENGINES:
        found = shutil.which(name, path=_ENGINE_PATH)
        if found is None:
            continue
        try:
            info = subprocess.run(
                [found, "info"], capture_output=True, timeout=60, env={"PATH": _ENGINE_PATH}
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if info.returncode == 0:
            return found
    return None


class ContainerJobs:
    """Structurally a `shared.ports.Jobs`. run() returns once the engine has started the
    container; a thread per execution waits for it, removes it, and calls `on_crash(request,
    how, log_path)` when it exited non-zero (the stage did not finish), as ProcessJobs does.
    `run_flags` replaces the engine's privilege flags above (e.g. `--privileged`)."""

    def __init__(
        self,
        engine: str,
        image: str,
        home: Path,
        env: Mapping[str, str],
        *,
        volumes: Sequence[Path] = (),
        on_crash: Callable[[StageRequest, str, str], None] | None = None,
        run_flags: Sequence[str] | None = None,
    ) -> None:
        kind = Path(engine).name
        if run_flags is None and kind not in RUN_FLAGS:
            raise JobStartError(
                f"unknown container engine {engine!r}: use podman or docker, or pass run_flags"
            )
        self._engine = engine
        self._image = image
        self._home = home.resolve()
        self._flags = list(run_flags if run_flags is not None else RUN_FLAGS[kind])
        self._volumes = [Path(v).resolve() for v in volumes]
        self._on_crash = on_crash
        # The engine runs with `env` (it may need DOCKER_HOST, XDG_RUNTIME_DIR...); the container
        # gets only the ERRAND_* variables, by name, so values stay off the command line.
        self._env = {**env, "ERRAND_HOME": str(self._home)}
        self._passed = sorted(k for k in self._env if k.startswith("ERRAND_"))

    def command(self, request: StageRequest, execution_id: str) -> list[str]:
        """The engine command line that starts `request` (no secret values in it)."""
        log_path = paths.job_log(self._home, execution_id)
        args = [self._engine, "run", "-d", "--pull=never", "--name", container_name(execution_id)]
        args += self._flags
        for path in [self._home, *self._volumes]:
            args += ["-v", f"{path}:{path}"]
        for name in self._passed:
            args += ["-e", name]
        args += ["--entrypoint", "/bin/sh", self._image, "-c", _WRAPPER, "errand-job"]
        return [*args, request.model_dump_json(), str(log_path)]

    def run(self, request: StageRequest) -> str:
        execution_id = new_execution_id(request)
        log_path = paths.job_log(self._home, execution_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = self._engine_call(self.command(request, execution_id))
        if started.returncode != 0:
            raise JobStartError(
                f"{Path(self._engine).name} could not start the job container from image "
                f"{self._image!r}: {started.stderr.strip()[-1500:]} — build the image "
                "(see sandbox_image/README.md) or check the engine"
            )
        threading.Thread(
            target=self._watch, args=(request, execution_id, str(log_path)), daemon=True
        ).start()
        return execution_id

    def gone(self, execution: str) -> bool:
        """A container the engine no longer knows (it ended and was removed) is gone."""
        try:
            inspected = self._engine_call(
                [
                    self._engine,
                    "inspect",
                    "--format",
                    "{{.State.Running}}",
                    container_name(execution),
                ]
            )
        except JobStartError:
            return False  # the engine did not answer: cannot tell
        if inspected.returncode != 0:
            return "no such" in inspected.stderr.lower()
        return inspected.stdout.strip() == "false"

    def _watch(self, request: StageRequest, execution_id: str, log_path: str) -> None:
        # Not `run --rm`: a container that exits before `wait` attaches would take its exit
        # code with it.
        name = container_name(execution_id)
        try:
            waited = self._engine_call([self._engine, "wait", name], timeout_s=None)
            self._engine_call([self._engine, "rm", "-f", name])
        except JobStartError as exc:
            waited = subprocess.CompletedProcess([], 1, "", exc.message)
        code_text = waited.stdout.strip().splitlines()[-1] if waited.stdout.strip() else ""
        if waited.returncode != 0 or not code_text.lstrip("-").isdigit():
            how = f"could not be watched ({waited.stderr.strip()[-300:]})"
        elif int(code_text) == 0:
            return
        elif int(code_text) == 137:
            how = "was killed (SIGKILL: out of memory, or stopped)"
        else:
            how = f"exited with code {code_text}"
        if self._on_crash is not None:
            self._on_crash(request, how, log_path)

    def _engine_call(
        self, args: list[str], timeout_s: float | None = _ENGINE_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                args,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env={"PATH": _ENGINE_PATH, **self._env},  # a PATH in env wins
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise JobStartError(f"the container engine {self._engine} failed: {exc}") from exc


def container_name(execution_id: str) -> str:
    return f"errand-{execution_id}"
