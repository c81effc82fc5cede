"""The Sandbox port on bubblewrap: namespaces, a read-only system built from selected binds,
cgroup limits, a wall-clock timeout that kills the whole process tree, capped output.

Runs as root on the host. bwrap then maps the sandbox's uid 1000 to the host's root: no
capabilities, but to every permission check that looks only at the uid the sandbox *is* root.
Hence: only system paths and the Python installation are bound, all read-only, never $HOME,
ERRAND_HOME, /sys or the host's /proc; the sandbox's own /proc is read-only (its sysctls would
otherwise be the host's to rewrite); and files it creates in the workspace belong to the host's
root, so a setuid bit it sets is only harmless on a nosuid mount (see workspace_fs)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from shared.adapters.bwrap_layout import HOME, Layout
from shared.adapters.bwrap_process import TOOL_ENV, BwrapProcess
from shared.adapters.cgroup_limits import CgroupLimits, Limits
from shared.adapters.live_output import TICK_S, LiveOutput, Tee
from shared.adapters.sandbox_output import CappedOutput
from shared.adapters.slirp import DEFAULT_BLOCKED_EGRESS, DNS_SERVER, Slirp
from shared.errors import InvalidInput, SandboxError
from shared.ports import CommandResult, OutputChunk

TIMEOUT_EXIT_CODE = 124
_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


class BwrapSandbox:
    """Structurally a `shared.ports.Sandbox`. Safe to use from several threads at once: each
    `run` has its own cgroup and runner thread.

    Per command: `memory_mb` of memory (no swap), `pids` processes, `cpus` CPUs' worth of time
    (a quota, not a pinning: 1.5 lets two threads run three quarters of the time), `tmp_mb` of
    /tmp (a tmpfs, so it also counts as memory). Without a usable cgroup controller for memory,
    pids or cpu the constructor raises SandboxError, unless `require_limits=False`;
    `limits_active` and `limits_unavailable` tell which."""

    def __init__(
        self,
        memory_mb: int = 4096,
        pids: int = 512,
        output_limit_bytes: int = 256_000,
        max_line_chars: int = 4000,
        extra_ro_paths: Sequence[Path] = (),
        *,
        cpus: float = 1.0,
        tmp_mb: int = 1024,
        require_limits: bool = True,
        blocked_egress: Sequence[str] = DEFAULT_BLOCKED_EGRESS,
        python_prefix: Path | None = None,
    ) -> None:
        if cpus < 0.01 or memory_mb < 1 or pids < 1 or tmp_mb < 1:
            raise InvalidInput(
                f"sandbox limits must be positive (cpus >= 0.01): got cpus={cpus}, "
                f"memory_mb={memory_mb}, pids={pids}, tmp_mb={tmp_mb}"
            )
        self._bwrap = _which("bwrap", "apt-get install bubblewrap")
        self._output_limit = output_limit_bytes
        self._max_line = max_line_chars
        self._blocked = tuple(blocked_egress)
        self._limits = CgroupLimits(Limits(memory_mb * 1024 * 1024, pids, cpus))
        self.memory_mb, self.pids, self.cpus = memory_mb, pids, cpus
        if require_limits and self._limits.unavailable:
            reasons = "; ".join(f"{c}: {why}" for c, why in self._limits.unavailable.items())
            raise SandboxError(
                f"cannot enforce sandbox limits ({reasons}). Run Errand as root on a machine "
                "with cgroup v1 or delegated cgroup v2, or pass require_limits=False to run "
                "untrusted commands without these limits."
            )
        prefix = (python_prefix or Path(sys.base_prefix)).resolve()
        self._path = ":".join(
            ([] if prefix.is_relative_to("/usr") else [f"{prefix}/bin"])
            + ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        )
        self._layout = Layout([prefix, *extra_ro_paths], tmp_mb, DNS_SERVER)
        self._system_args = list(self._layout.args)
        help_text = subprocess.run(
            [self._bwrap, "--help"], capture_output=True, text=True, env=TOOL_ENV, check=False
        ).stdout
        if "--disable-userns" in help_text:  # bubblewrap >= 0.8
            self._system_args += ["--disable-userns", "--assert-userns-disabled"]
        self._default_env = _default_env(self._path)
        self._slirp_tools: tuple[str, str, str] | None = None

    @property
    def limits_active(self) -> list[str]:
        return self._limits.active

    @property
    def limits_unavailable(self) -> dict[str, str]:
        return dict(self._limits.unavailable)

    def run(
        self,
        workspace: Path,
        command: str,
        *,
        cwd: str = "/workspace",
        network: bool = False,
        timeout_s: float = 600.0,
        on_output: Callable[[str], None] | None = None,
        env: Mapping[str, str] | None = None,
        on_progress: Callable[[OutputChunk], None] | None = None,
    ) -> CommandResult:
        """Runs `bash -c command` with `workspace` at /workspace. Output is stdout and stderr
        merged; `on_output` gets it one line at a time (without the newline), exactly the
        lines the result keeps: the head live, the tail and any truncation note at the end.
        `on_progress` gets it live, coalesced (see live_output). `env` adds to (or overrides)
        the sandbox's small default environment."""
        if not workspace.is_dir():
            raise SandboxError(f"workspace {workspace} is not a directory; create it first")
        if not cwd.startswith("/"):
            raise InvalidInput(f"cwd must be an absolute path inside the sandbox, got {cwd!r}")
        setenv = _setenv_args({**self._default_env, **(env or {})})
        slirp = Slirp(*self._network_tools()) if network else None
        group = self._limits.create() if self._limits.active else None
        output = CappedOutput(self._output_limit, self._max_line, on_output)
        live = LiveOutput(on_progress) if on_progress is not None else None
        started = time.monotonic()
        try:
            with self._layout.etc(network) as (etc_args, etc_fds):
                args = [
                    *self._system_args,
                    *["--bind", str(workspace.resolve()), "/workspace", *etc_args],
                    *["--chdir", cwd, "--clearenv", *setenv, "--remount-ro", "/"],
                ]  # `--remount-ro /` must come after every mount and file
                execution = BwrapProcess(
                    self._bwrap,
                    b"".join(a.encode() + b"\0" for a in args),
                    etc_fds,
                    command,
                    group.procs_files if group is not None else [],
                    slirp,
                    self._blocked,
                    Tee(output.feed, live.feed) if live is not None else output,
                )
                timed_out = _wait(execution, timeout_s, live)
            if execution.error is not None and not timed_out:
                raise execution.error
            hit = group.hit() if group is not None else ""
            throttled_s = group.throttled_s() if group is not None else 0.0
        finally:
            if slirp is not None:
                slirp.stop()
            if group is not None:
                group.kill()  # nothing should be left; this makes sure
                group.remove()
        return self._result(execution, output, hit, throttled_s, timed_out, timeout_s, started)

    def _result(
        self,
        execution: BwrapProcess,
        output: CappedOutput,
        hit: str,
        throttled_s: float,
        timed_out: bool,
        timeout_s: float,
        started: float,
    ) -> CommandResult:
        exit_code = execution.exit_code
        output.close()
        if timed_out:
            exit_code, limit = TIMEOUT_EXIT_CODE, "timeout"
            why = (
                f"; its {self.cpus:g}-CPU quota held it back for {throttled_s:.1f} s of that"
                if throttled_s >= 0.1
                else ""
            )
            output.note(f"[killed after {timeout_s:g} s: the command hit its time limit{why}]")
            if hit == "pids":  # the likelier cause (a fork bomb outlives its own shell)
                limit = hit
                output.note(f"[the command also hit its limit of {self.pids} processes]")
        elif hit == "memory":
            limit = hit
            output.note(f"[killed: the command used more than its {self.memory_mb} MB of memory]")
        elif hit == "pids":
            limit = hit
            output.note(f"[the command hit its limit of {self.pids} processes: forks failed]")
        elif exit_code is None:
            raise SandboxError(f"bwrap could not start the sandbox: {output.text().strip()}")
        else:
            limit = "output" if output.truncated else ""
        return CommandResult(
            exit_code=exit_code if exit_code is not None else 128 + 9,
            output=output.text(),
            duration_s=round(time.monotonic() - started, 3),
            timed_out=timed_out,
            truncated=output.truncated,
            limit=limit,
        )

    def _network_tools(self) -> tuple[str, str, str]:
        if self._slirp_tools is None:
            self._slirp_tools = (
                _which("slirp4netns", "apt-get install slirp4netns"),
                _which("nsenter", "apt-get install util-linux"),
                _which("ip", "apt-get install iproute2"),
            )
        return self._slirp_tools


def _default_env(path: str) -> dict[str, str]:
    env = {
        "PATH": path,
        "HOME": HOME,
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "SHELL": "/bin/bash",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "CI": "1",
    }
    if Path(_CA_BUNDLE).is_file():  # trust what the host trusts, certifi's copies aside
        for name in ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
            env[name] = _CA_BUNDLE
    return env


def _wait(execution: BwrapProcess, timeout_s: float, live: LiveOutput | None) -> bool:
    """Waits for the command, passing its output on live meanwhile; kills it at the deadline
    (or if we are interrupted). Returns whether the deadline passed."""
    execution.thread.start()
    try:
        if live is None:
            execution.thread.join(timeout_s)
        else:
            deadline = time.monotonic() + timeout_s
            while execution.thread.is_alive() and (left := deadline - time.monotonic()) > 0:
                execution.thread.join(min(TICK_S, left))
                live.tick()
        timed_out = execution.thread.is_alive()
    finally:
        if execution.thread.is_alive():
            execution.kill()
            execution.thread.join(30)
    if execution.thread.is_alive():
        raise SandboxError("the sandbox survived SIGKILL for 30 s; check the host's processes")
    if live is not None:
        live.tick(final=True)  # what it printed last, up to the end or the kill
    return timed_out


def _which(name: str, install: str) -> str:
    found = shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise SandboxError(f"{name} is not installed; install it (`{install}`)")
    return found


def _setenv_args(env: Mapping[str, str]) -> list[str]:
    args = []
    for key, value in env.items():
        if not key or "=" in key or "\0" in key + value:
            raise InvalidInput(f"invalid environment variable {key!r} for the sandbox")
        args += ["--setenv", key, value]
    return args
