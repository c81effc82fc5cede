"""The filesystem a sandbox sees: read-only system directories, an /etc of only what programs
need (with generated passwd/group/hosts), a private /tmp.

/etc is a directory of bwrap's own root tmpfs that it fills from file descriptors (`--file`)
at each start: a bind mount costs bwrap about 0.15 ms and /etc alone would need thirty, while
a copy of these small files costs microseconds, needs no staging directory on the host (which
a killed job would leave behind) and always reads the host's current files. Directories, too
big to copy, are bound."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from shared.errors import SandboxError

UID = 1000
HOME = "/tmp/home"
# What programs need from /etc. Not /etc/ssl whole: /etc/ssl/private holds host keys.
_ETC = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl/certs", "ssl/openssl.cnf",
    "nsswitch.conf", "host.conf", "gai.conf", "localtime", "timezone", "protocols", "services",
    "mime.types", "magic", "magic.mime", "os-release", "debian_version", "terminfo",
)  # fmt: skip
_ETC_GLOBS = ("python3*", "java-*")
_GENERATED = {
    "passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{UID}:{UID}::{HOME}:/bin/bash\n",
    "group": f"root:x:0:\nsandbox:x:{UID}:\n",
    "hosts": "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "hostname": "sandbox\n",
}


class Layout:
    """`args` make everything but the workspace and /etc's files; `etc()` opens those files
    for one start and gives the arguments that copy them in."""

    def __init__(self, extra_ro_paths: Sequence[Path], tmp_mb: int, dns_server: str) -> None:
        wanted = {Path("/etc") / name for name in _ETC}
        wanted |= {p for pattern in _ETC_GLOBS for p in Path("/etc").glob(pattern)}
        present = sorted(p for p in wanted if p.exists())
        self._files = [p for p in present if not p.is_dir()]
        self._generated = {f"/etc/{name}": text.encode() for name, text in _GENERATED.items()}
        self._resolv = f"nameserver {dns_server}\n".encode()
        etc_dirs = [p for p in present if p.is_dir()]
        self.args = _system_args(extra_ro_paths, tmp_mb, etc_dirs)

    @contextlib.contextmanager
    def etc(self, network: bool) -> Iterator[tuple[list[str], list[int]]]:
        """(bwrap arguments, the descriptors they name, to pass to bwrap); closed on exit."""
        fds: list[int] = []
        args: list[str] = []
        try:
            for path in self._files:
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # follows links, as a bind
                except FileNotFoundError:
                    continue  # gone from the host since: gone from the sandbox too
                fds.append(fd)
                args += ["--perms", "0644", "--file", str(fd), str(path)]
            generated = dict(self._generated)
            if network:
                generated["/etc/resolv.conf"] = self._resolv
            for dest, data in generated.items():
                fd = os.memfd_create("etc", os.MFD_CLOEXEC)
                fds.append(fd)
                os.write(fd, data)  # a few bytes: written whole
                os.lseek(fd, 0, os.SEEK_SET)
                args += ["--perms", "0644", "--file", str(fd), dest]
            yield args, fds
        finally:
            for fd in fds:
                os.close(fd)


def _system_args(extra: Sequence[Path], tmp_mb: int, etc_dirs: Sequence[Path]) -> list[str]:
    args = ["--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    args += ["--cap-drop", "ALL", "--uid", str(UID), "--gid", str(UID), "--hostname", "sandbox"]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    args += ["--perms", "0755", "--dir", "/etc", "--perms", "0755", "--dir", "/etc/ssl"]
    for path in etc_dirs:
        args += ["--ro-bind", str(path), str(path)]
    # The sandbox's uid is the host's root to the kernel's permission checks, and many files
    # in /proc check nothing else: through /proc/sys/kernel/core_pattern, say, the sandbox
    # could name a program for the host's root to run. So /proc is read-only, all of it.
    args += ["--proc", "/proc", "--remount-ro", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    args += ["--dir", HOME, "--symlink", "/tmp", "/var/tmp"]
    # Last, so that no mount above can cover them (a Python under /tmp, say).
    for path in extra:
        real = Path(path).resolve()
        if not real.exists():
            raise SandboxError(f"{real} does not exist; cannot bind it into the sandbox")
        if not real.is_relative_to("/usr"):
            args += ["--ro-bind", str(real), str(real)]
    return args
