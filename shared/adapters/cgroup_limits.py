"""Per-command memory, pids and CPU limits through cgroups, v1 or v2, chosen per controller.

Per-command groups are made below the cgroup this process already lives in, so the limits of
whoever runs us still bound the sandbox (a group elsewhere would escape them)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from shared.errors import SandboxError

CONTROLLERS = ("cpu", "memory", "pids")
CPU_PERIOD_US = 100_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Hierarchy:
    controller: str
    parent: Path  # the directory per-command groups are made in
    v2: bool


@dataclass(frozen=True)
class _Mount:
    root: str  # the path inside the hierarchy that is mounted
    point: Path
    fstype: str
    options: frozenset[str]


def _read_mounts(mountinfo: Path) -> list[_Mount]:
    mounts = []
    for line in mountinfo.read_text().splitlines():
        fields, _, rest = line.partition(" - ")
        left, right = fields.split(), rest.split()
        if len(left) < 5 or len(right) < 3 or not right[0].startswith("cgroup"):
            continue
        point = Path(left[4].replace("\\040", " "))
        mounts.append(_Mount(left[3], point, right[0], frozenset(right[2].split(","))))
    return mounts


def _own_paths(cgroup_file: Path) -> dict[str, str]:
    """Controller name ("" for the v2 unified hierarchy) -> this process's group path."""
    paths: dict[str, str] = {}
    for line in cgroup_file.read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else [""]:
            paths[name] = path
    return paths


def _below(mount: _Mount, own: str) -> Path:
    relative = os.path.relpath(own, mount.root)
    if relative.startswith(".."):
        raise SandboxError(f"this process's cgroup {own} is outside the mount at {mount.point}")
    return (mount.point / relative).resolve()


def _locate(controller: str, mounts: list[_Mount], own: dict[str, str]) -> _Hierarchy:
    for mount in mounts:
        if mount.fstype == "cgroup" and controller in mount.options and controller in own:
            parent = _below(mount, own[controller])
            if not os.access(parent, os.W_OK):
                raise SandboxError(f"cgroup v1 {controller}: {parent} is not writable")
            return _Hierarchy(controller, parent, v2=False)
    for mount in mounts:
        if mount.fstype != "cgroup2" or "" not in own:
            continue
        parent = _below(mount, own[""])
        available = (parent / "cgroup.controllers").read_text().split()
        if controller not in available:
            continue  # bound to a v1 hierarchy elsewhere, or not delegated to us
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        if controller not in enabled:
            try:
                (parent / "cgroup.subtree_control").write_text(f"+{controller}")
            except OSError as exc:
                raise SandboxError(
                    f"cgroup v2 {controller}: cannot enable it for groups below {parent} "
                    f"({exc.strerror}); run Errand in a delegated leaf cgroup "
                    "(e.g. `systemd-run --scope -p Delegate=yes`)"
                ) from exc
        return _Hierarchy(controller, parent, v2=True)
    raise SandboxError(f"no cgroup hierarchy offers the {controller} controller")


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    pids: int
    cpus: float  # CPU time per wall-clock time: 1.5 is one and a half CPUs

    def cpu_quota_us(self) -> int:
        return max(1000, round(self.cpus * CPU_PERIOD_US))  # the kernel's minimum is 1 ms


class CgroupLimits:
    """Finds usable controllers once, and tries each by making a group with the limits set
    (so that a controller that would fail every command is reported now, with its reason);
    `create()` makes one group per command."""

    def __init__(self, limits: Limits, proc: Path = Path("/proc")) -> None:
        self._limits = limits
        self._hierarchies: dict[str, _Hierarchy] = {}
        self.unavailable: dict[str, str] = {}  # controller -> why it cannot be used
        try:
            mounts = _read_mounts(proc / "self/mountinfo")
            own = _own_paths(proc / "self/cgroup")
        except (OSError, ValueError) as exc:
            self.unavailable = {c: f"cannot read cgroup information: {exc}" for c in CONTROLLERS}
            return
        for controller in CONTROLLERS:
            try:
                hierarchy = _locate(controller, mounts, own)
                _reap_stale(hierarchy)
                self._create({controller: hierarchy}).remove()
                self._hierarchies[controller] = hierarchy
            except (SandboxError, OSError) as exc:
                self.unavailable[controller] = str(exc)

    @property
    def active(self) -> list[str]:
        return sorted(self._hierarchies)

    def create(self) -> CommandGroup:
        return self._create(self._hierarchies)

    def _create(self, hierarchies: dict[str, _Hierarchy]) -> CommandGroup:
        name = f"errand-{os.getpid()}-{secrets.token_hex(4)}"
        dirs: dict[str, tuple[Path, bool]] = {}
        try:
            for controller, hierarchy in hierarchies.items():
                path = hierarchy.parent / name
                path.mkdir(exist_ok=True)
                dirs[controller] = (path, hierarchy.v2)
            group = CommandGroup(dirs)
            group.set_limits(self._limits)
        except OSError as exc:
            CommandGroup(dirs).remove()
            raise SandboxError(f"could not set up the command's cgroup: {exc}") from exc
        return group


class CommandGroup:
    """The cgroup(s) of one command: v1 has one directory per controller, v2 one in all."""

    def __init__(self, dirs: dict[str, tuple[Path, bool]]) -> None:
        self._dirs = dirs

    @property
    def procs_files(self) -> list[Path]:
        return sorted({path / "cgroup.procs" for path, _ in self._dirs.values()})

    def set_limits(self, limits: Limits) -> None:
        if "memory" in self._dirs:
            path, v2 = self._dirs["memory"]
            if v2:
                (path / "memory.max").write_text(str(limits.memory_bytes))
                with contextlib.suppress(FileNotFoundError):  # absent without swap accounting
                    (path / "memory.swap.max").write_text("0")
            else:
                (path / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
                with contextlib.suppress(FileNotFoundError):
                    (path / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_bytes))
        if "pids" in self._dirs:
            (self._dirs["pids"][0] / "pids.max").write_text(str(limits.pids))
        if "cpu" in self._dirs:
            path, v2 = self._dirs["cpu"]
            if v2:
                (path / "cpu.max").write_text(f"{limits.cpu_quota_us()} {CPU_PERIOD_US}")
            else:
                (path / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (path / "cpu.cfs_quota_us").write_text(str(limits.cpu_quota_us()))

    def throttled_s(self) -> float:
        """How long the CPU quota held the command back."""
        if "cpu" not in self._dirs:
            return 0.0
        path, v2 = self._dirs["cpu"]
        if v2:
            return _counter(path / "cpu.stat", "throttled_usec") / 1e6
        return _counter(path / "cpu.stat", "throttled_time") / 1e9

    def hit(self) -> str:
        """Which limit was reached: "memory" (an OOM kill), "pids" (a refused fork) or ""."""
        if "memory" in self._dirs:
            path, v2 = self._dirs["memory"]
            events = path / ("memory.events" if v2 else "memory.oom_control")
            if _counter(events, "oom_kill") > 0:
                return "memory"
        if "pids" in self._dirs and _counter(self._dirs["pids"][0] / "pids.events", "max") > 0:
            return "pids"
        return ""

    def kill(self) -> None:
        """SIGKILL every process still in the group, and wait until the group is empty."""
        for path, v2 in self._dirs.values():
            if v2 and (path / "cgroup.kill").exists():
                (path / "cgroup.kill").write_text("1")
                continue
            # A fork racing the sweep lands in the group too: sweep again. Right after a
            # command ends its last processes are often still exiting, so start with short
            # waits: a fixed 10 ms here was a third of a sandbox's start-up time.
            for delay in _backoff(2.0):
                pids = _members(path)
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(delay)

    def remove(self) -> None:
        for path, _ in self._dirs.values():
            if not path.exists():
                continue
            for delay in _backoff(2.0):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:  # someone else's sweep removed it
                    break
                except OSError as exc:  # busy while killed tasks finish exiting
                    if delay == 0.0:
                        log.warning("could not remove cgroup %s: %s", path, exc)
                        break
                    if _members(path):
                        self.kill()
                    time.sleep(delay)


def _backoff(total_s: float) -> list[float]:
    """Waits of 0.5 ms doubling up to 50 ms, about `total_s` in all, then a final 0 (give up)."""
    delays, delay, spent = [], 0.0005, 0.0
    while spent < total_s:
        delays.append(delay)
        spent += delay
        delay = min(delay * 2, 0.05)
    return [*delays, 0.0]


def _reap_stale(hierarchy: _Hierarchy) -> None:
    """Removes the groups of controllers that died mid-command (killed, so their cleanup never
    ran), killing whatever is still inside: an empty memory cgroup still costs kernel memory,
    and a process in one outlived its stage."""
    for path in hierarchy.parent.glob("errand-*-*"):
        owner = path.name.split("-")[1]
        if not owner.isdigit() or int(owner) == os.getpid() or _alive(int(owner)):
            continue
        group = CommandGroup({hierarchy.controller: (path, hierarchy.v2)})
        try:
            group.kill()
            group.remove()
        except OSError as exc:  # another process may be sweeping the same group
            log.warning("could not remove the stale cgroup %s: %s", path, exc)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _members(path: Path) -> list[int]:
    try:
        return [int(pid) for pid in (path / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except FileNotFoundError:
        pass
    return 0
