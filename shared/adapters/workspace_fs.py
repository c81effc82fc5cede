"""A size-limited filesystem for each task's workspace: a disk filler inside the sandbox hits
ENOSPC at the quota instead of filling the host's disk.

Backends, chosen once per `WorkspaceVolumes` (the first time one is needed):
- "loop": a sparse ext4 image beside the workspace (`<workspace>.img`), loop-mounted on it.
  Needs root and loop devices. Disk is used only as files are written, so N workspaces can
  promise more than the host's free space: the quota bounds each task, not their sum.
- "tmpfs": a tmpfs of the quota's size mounted on the workspace. Needs root (CAP_SYS_ADMIN)
  but no loop devices. It lives in RAM (and swap): a full workspace takes its size in memory,
  so the size is capped at half of the host's memory (`size_mb` tells what was granted).
- "none": a plain directory, no quota; only when chosen (`backend="none"`) or with
  `require_quota=False`.

Every volume is mounted nosuid,nodev: inside the sandbox uid 1000 is the host's root, so a
file it makes setuid would otherwise be a setuid-root program on the host. The workspace root
belongs to this process's user (the sandbox writes there as that same host user) with mode 0700.

Mounts live in this process's mount namespace; on one machine that is the host's, so a volume
provisioned by the prepare job is there for the next stages' jobs, until `release`."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
from functools import cached_property
from pathlib import Path

from shared.errors import InvalidInput, SandboxError

BACKENDS = ("loop", "tmpfs")
_TOOL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
_OPTIONS = "nosuid,nodev,noatime"

log = logging.getLogger(__name__)


class WorkspaceVolumes:
    """`provision(path)` makes `path` an empty directory holding at most `size_mb`;
    `release(path)` unmounts and deletes it. `backend` is "auto" (loop, else tmpfs), or one of
    "loop", "tmpfs" to insist on it. Safe to share between threads and processes: every call
    works on its own path."""

    def __init__(
        self, size_mb: int = 8192, *, backend: str = "auto", require_quota: bool = True
    ) -> None:
        if size_mb < 16:
            raise InvalidInput(f"workspace size must be at least 16 MB, got {size_mb}")
        if backend not in ("auto", "none", *BACKENDS):
            raise InvalidInput(
                f"unknown workspace backend {backend!r}: use auto, loop, tmpfs or none"
            )
        self._requested_mb = size_mb
        # "none" is an explicit choice of a plain directory (no quota), never a fallback
        self._wanted: tuple[str, ...] = (
            () if backend == "none" else BACKENDS if backend == "auto" else (backend,)
        )
        self._require = require_quota and backend != "none"

    @property
    def backend(self) -> str:
        """Which backend provisions: loop, tmpfs or none (detected on first use)."""
        return self._choice[0]

    @property
    def size_mb(self) -> int:
        """The quota each workspace gets (tmpfs may grant less than asked; "none" grants 0)."""
        return self._granted_mb(self.backend)

    def _granted_mb(self, backend: str) -> int:
        if backend == "none":
            return 0
        if backend == "tmpfs":
            return min(self._requested_mb, _memory_mb() // 2)
        return self._requested_mb

    @property
    def unavailable(self) -> dict[str, str]:
        """Backend -> why it could not be used (those tried before the one chosen)."""
        return dict(self._choice[1])

    def provision(self, path: Path) -> None:
        """Whatever was at `path` (an earlier volume included, as after a redelivered prepare)
        is released first. The parent directory must exist."""
        if "_choice" in self.__dict__:
            _provision(path, self.backend, self.size_mb)
            return
        # The first volume of this instance is its own probe: each prepare job starts a fresh
        # instance, and a separate probe volume cost it a second mkfs, mount and umount.
        reasons: dict[str, str] = {}
        for backend in self._wanted:
            try:
                _check_tools(backend)
                _provision(path, backend, self._granted_mb(backend))
                _check_writable(path)
            except (SandboxError, OSError) as exc:
                with contextlib.suppress(SandboxError, OSError):
                    release(path)
                reasons[backend] = str(exc)
                continue
            self.__dict__["_choice"] = (backend, reasons)
            return
        self.__dict__["_choice"] = self._fallback(reasons)
        _provision(path, "none", 0)

    def release(self, path: Path) -> None:
        release(path)

    @cached_property
    def _choice(self) -> tuple[str, dict[str, str]]:
        reasons: dict[str, str] = {}
        for backend in self._wanted:
            try:
                _probe(backend)
                return backend, reasons
            except (SandboxError, OSError) as exc:
                reasons[backend] = str(exc)
        return self._fallback(reasons)

    def _fallback(self, reasons: dict[str, str]) -> tuple[str, dict[str, str]]:
        if self._require:
            why = "; ".join(f"{b}: {r}" for b, r in reasons.items())
            raise SandboxError(
                f"cannot give workspaces a disk quota ({why}). Run Errand as root with loop "
                "devices (or at least the right to mount tmpfs), or set require_quota=False "
                "to let untrusted commands fill the host's disk."
            )
        return "none", reasons


def release(path: Path) -> None:
    """Unmounts whatever is mounted on `path`, deletes it and its image. Idempotent; a volume
    that is still busy is detached lazily (it vanishes once its last user exits)."""
    for _ in range(8):  # a volume provisioned twice over is stacked: peel every layer
        if not os.path.ismount(path):
            break
        done = _tool("umount", str(path))
        if done.returncode != 0:
            log.warning("umount %s failed (%s); detaching it lazily", path, done.stderr.strip())
            _run("umount", "--lazy", str(path))
    if os.path.ismount(path):
        raise SandboxError(f"{path} is still mounted after unmounting it; check `findmnt {path}`")
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    with contextlib.suppress(FileNotFoundError):
        _image(path).unlink()


def _provision(path: Path, backend: str, size_mb: int) -> None:
    release(path)
    path.mkdir(mode=0o700)
    try:
        if backend == "loop":
            _mount_loop(path, size_mb)
        elif backend == "tmpfs":
            options = f"size={size_mb}m,mode=0700,uid={os.getuid()},gid={os.getgid()},{_OPTIONS}"
            _mount(path, "-t", "tmpfs", "-o", options, "tmpfs")
    except BaseException:
        release(path)
        raise


def _mount_loop(path: Path, size_mb: int) -> None:
    image = _image(path)
    with contextlib.suppress(FileNotFoundError):
        image.unlink()
    fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, size_mb * 1024 * 1024)  # sparse: no disk used yet
    finally:
        os.close(fd)
    # No reserved blocks (the sandbox writes as root anyway) and no journal: the volume lives
    # as long as its task, and a crash means the task starts over.
    ids = f"{os.getuid()}:{os.getgid()}"
    features = f"nodiscard,lazy_itable_init=1,root_owner={ids}"
    _run("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-E", features, str(image))
    _mount(path, "-t", "ext4", "-o", f"loop,{_OPTIONS}", str(image))
    (path / "lost+found").rmdir()  # the workspace starts empty
    path.chmod(0o700)


def _mount(path: Path, *args: str) -> None:
    _run("mount", *args, str(path))


def _probe(backend: str) -> None:
    """Provisions and releases a tiny volume: the only sure test that mounting works here."""
    _check_tools(backend)
    with tempfile.TemporaryDirectory(prefix="errand-volume-probe-") as tmp:
        volume = Path(tmp) / "probe"
        try:
            _provision(volume, backend, 16)
            _check_writable(volume)
        finally:
            release(volume)


def _check_tools(backend: str) -> None:
    if os.geteuid() != 0:
        raise SandboxError("mounting needs root; Errand runs as an unprivileged user")
    for tool in ("mount", "umount", *(("mkfs.ext4",) if backend == "loop" else ())):
        if shutil.which(tool, path=_TOOL_ENV["PATH"]) is None:
            raise SandboxError(f"{tool} is not installed (apt-get install util-linux e2fsprogs)")


def _check_writable(volume: Path) -> None:
    probe = volume / ".errand-probe"
    probe.write_bytes(b"x" * 4096)
    probe.unlink()


def _image(path: Path) -> Path:
    return path.with_name(path.name + ".img")


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise SandboxError("cannot read MemTotal from /proc/meminfo to size a tmpfs workspace")


def _tool(*argv: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, env=_TOOL_ENV, check=False, timeout=60
        )
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"`{' '.join(argv)}` hung for 60 s; check the host's mounts") from exc


def _run(*argv: str) -> None:
    done = _tool(*argv)
    if done.returncode != 0:
        raise SandboxError(f"`{' '.join(argv)}` failed: {(done.stderr or done.stdout).strip()}")
