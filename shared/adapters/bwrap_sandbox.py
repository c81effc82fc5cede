"""The Sandbox port on bubblewrap: namespaces, a read-only system built from selected binds,
cgroup limits, a wall-clock timeout that kills the whole process tree, capped output.

Runs as root on the host. bwrap then maps the sandbox's uid 1000 to the host's root, so every
root-owned file bound in is readable inside: only system paths are bound, never /root, $HOME,
ERRAND_HOME or the host's /proc."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from shared.adapters.bwrap_process import TOOL_ENV, BwrapProcess
from shared.adapters.cgroup_limits import CgroupLimits
from shared.adapters.sandbox_output import CappedOutput
from shared.adapters.slirp import DEFAULT_BLOCKED_EGRESS, DNS_SERVER, Slirp
from shared.errors import InvalidInput, SandboxError
from shared.ports import CommandResult

TIMEOUT_EXIT_CODE = 124
_UID = 1000
_HOME = "/tmp/home"
_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# What programs need from /etc. Not /etc/ssl whole: /etc/ssl/private holds host keys.
_ETC = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl/certs", "ssl/openssl.cnf",
    "nsswitch.conf", "host.conf", "gai.conf", "localtime", "timezone", "protocols", "services",
    "mime.types", "magic", "magic.mime", "os-release", "debian_version", "terminfo",
)  # fmt: skip
_ETC_GLOBS = ("python3*", "java-*")
_PASSWD = f"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{_UID}:{_UID}::{_HOME}:/bin/bash\n"
_GROUP = f"root:x:0:\nsandbox:x:{_UID}:\n"
_HOSTS = "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"


class BwrapSandbox:
    """Structurally a `shared.ports.Sandbox`. Safe to use from several threads at once: each
    `run` has its own cgroup, temp dir and runner thread.

    Without a usable cgroup controller for memory or pids the constructor raises SandboxError,
    unless `require_limits=False`; `limits_active` and `limits_unavailable` tell which."""

    def __init__(
        self,
        memory_mb: int = 4096,
        pids: int = 512,
        output_limit_bytes: int = 256_000,
        max_line_chars: int = 4000,
        extra_ro_paths: Sequence[Path] = (),
        *,
        tmp_mb: int = 1024,
        require_limits: bool = True,
        blocked_egress: Sequence[str] = DEFAULT_BLOCKED_EGRESS,
        python_prefix: Path | None = None,
    ) -> None:
        self._bwrap = _which("bwrap", "apt-get install bubblewrap")
        self._output_limit = output_limit_bytes
        self._max_line = max_line_chars
        self._blocked = tuple(blocked_egress)
        self._limits = CgroupLimits(memory_mb * 1024 * 1024, pids)
        self.memory_mb, self.pids = memory_mb, pids
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
        self._system_args = _system_args([prefix, *extra_ro_paths], tmp_mb)
        help_text = subprocess.run(
            [self._bwrap, "--help"], capture_output=True, text=True, env=TOOL_ENV, check=False
        ).stdout
        if "--disable-userns" in help_text:  # bubblewrap >= 0.8
            self._system_args += ["--disable-userns", "--assert-userns-disabled"]
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
    ) -> CommandResult:
        """Runs `bash -c command` with `workspace` at /workspace. Output is stdout and stderr
        merged; `on_output` gets it one line at a time (without the newline), exactly the
        lines the result keeps: the head live, the tail and any truncation note at the end.
        `env` adds to (or overrides) the sandbox's small default environment."""
        if not workspace.is_dir():
            raise SandboxError(f"workspace {workspace} is not a directory; create it first")
        if not cwd.startswith("/"):
            raise InvalidInput(f"cwd must be an absolute path inside the sandbox, got {cwd!r}")
        args = self._args(workspace, cwd, network, {**self._default_env(), **(env or {})})
        slirp = Slirp(*self._network_tools()) if network else None
        group = self._limits.create() if self._limits.active else None
        output = CappedOutput(self._output_limit, self._max_line, on_output)
        started = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="errand-sandbox-") as tmp:
                args += _etc_args(Path(tmp), network)
                (Path(tmp) / "args").write_bytes(b"".join(a.encode() + b"\0" for a in args))
                execution = BwrapProcess(
                    self._bwrap,
                    Path(tmp) / "args",
                    command,
                    group.procs_files if group is not None else [],
                    slirp,
                    self._blocked,
                    output,
                )
                timed_out = _wait(execution, timeout_s)
            if execution.error is not None and not timed_out:
                raise execution.error
            hit = group.hit() if group is not None else ""
        finally:
            if slirp is not None:
                slirp.stop()
            if group is not None:
                group.kill()  # nothing should be left; this makes sure
                group.remove()
        return self._result(execution, output, hit, timed_out, timeout_s, started)

    def _args(self, workspace: Path, cwd: str, network: bool, env: Mapping[str, str]) -> list[str]:
        """Everything but the generated /etc files; `--remount-ro /` must come after mounts."""
        return [
            *self._system_args,
            *["--bind", str(workspace.resolve()), "/workspace"],
            *["--chdir", cwd, "--clearenv", *_setenv_args(env)],
        ]

    def _result(
        self,
        execution: BwrapProcess,
        output: CappedOutput,
        hit: str,
        timed_out: bool,
        timeout_s: float,
        started: float,
    ) -> CommandResult:
        exit_code = execution.exit_code
        output.close()
        if timed_out:
            exit_code, limit = TIMEOUT_EXIT_CODE, "timeout"
            output.note(f"[killed after {timeout_s:g} s: the command hit its time limit]")
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

    def _default_env(self) -> dict[str, str]:
        env = {
            "PATH": self._path,
            "HOME": _HOME,
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

    def _network_tools(self) -> tuple[str, str, str]:
        if self._slirp_tools is None:
            self._slirp_tools = (
                _which("slirp4netns", "apt-get install slirp4netns"),
                _which("nsenter", "apt-get install util-linux"),
                _which("ip", "apt-get install iproute2"),
            )
        return self._slirp_tools


def _wait(execution: BwrapProcess, timeout_s: float) -> bool:
    """Waits for the command; kills it at the deadline (or if we are interrupted). Returns
    whether the deadline passed."""
    execution.thread.start()
    try:
        execution.thread.join(timeout_s)
        timed_out = execution.thread.is_alive()
    finally:
        if execution.thread.is_alive():
            execution.kill()
            execution.thread.join(30)
    if execution.thread.is_alive():
        raise SandboxError("the sandbox survived SIGKILL for 30 s; check the host's processes")
    return timed_out


def _which(name: str, install: str) -> str:
    found = shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise SandboxError(f"{name} is not installed; install it (`{install}`)")
    return found


def _system_args(extra: Sequence[Path], tmp_mb: int) -> list[str]:
    args = ["--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    args += ["--cap-drop", "ALL", "--uid", str(_UID), "--gid", str(_UID), "--hostname", "sandbox"]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    for path in extra:
        real = Path(path).resolve()
        if not real.exists():
            raise SandboxError(f"{real} does not exist; cannot bind it into the sandbox")
        if not real.is_relative_to("/usr"):
            args += ["--ro-bind", str(real), str(real)]
    etc = {Path("/etc") / name for name in _ETC} | {
        p for pattern in _ETC_GLOBS for p in Path("/etc").glob(pattern)
    }
    for path in sorted(p for p in etc if p.exists()):
        args += ["--ro-bind", str(path), str(path)]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    args += ["--dir", _HOME, "--symlink", "/tmp", "/var/tmp"]
    return args


def _etc_args(tmp: Path, network: bool) -> list[str]:
    files = {"passwd": _PASSWD, "group": _GROUP, "hosts": _HOSTS, "hostname": "sandbox\n"}
    if network:
        files["resolv.conf"] = f"nameserver {DNS_SERVER}\n"
    args = []
    for name, text in files.items():
        (tmp / name).write_text(text)
        args += ["--ro-bind", str(tmp / name), f"/etc/{name}"]
    return [*args, "--remount-ro", "/"]


def _setenv_args(env: Mapping[str, str]) -> list[str]:
    args = []
    for key, value in env.items():
        if not key or "=" in key or "\0" in key + value:
            raise InvalidInput(f"invalid environment variable {key!r} for the sandbox")
        args += ["--setenv", key, value]
    return args
