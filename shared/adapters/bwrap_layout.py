"""The filesystem a sandbox sees, built once per `BwrapSandbox`: read-only system directories,
an /etc of only what programs need (with generated passwd/group/hosts), a private /tmp.

/etc is staged in a private host directory and bound in as one mount: each bind costs bwrap
about 0.15 ms, and /etc alone would need thirty. Files are copied when the instance is made
(a host change is seen by the next instance: job executions are short-lived); directories,
whose copies would be slow, are bound live on top."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Sequence
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
    "resolv.conf": "",  # no DNS without network; a network run binds `resolv_conf` over it
}


class Layout:
    """`args` mount everything but the workspace; `resolv_conf` is the file to bind on
    /etc/resolv.conf when the command has network. The staged directory is removed when the
    layout is garbage-collected or the interpreter exits."""

    def __init__(self, extra_ro_paths: Sequence[Path], tmp_mb: int, dns_server: str) -> None:
        stage = Path(tempfile.mkdtemp(prefix="errand-etc-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, stage, ignore_errors=True)
        try:
            etc_dirs = _stage_etc(stage / "etc")
            (stage / "resolv.conf").write_text(f"nameserver {dns_server}\n")
        except OSError as exc:
            self._cleanup()
            raise SandboxError(f"could not prepare the sandbox's /etc in {stage}: {exc}") from exc
        self.resolv_conf = str(stage / "resolv.conf")
        self.args = _system_args(extra_ro_paths, tmp_mb, stage / "etc", etc_dirs)


def _stage_etc(etc: Path) -> list[Path]:
    """Copies the wanted /etc files into `etc` (following symlinks, as a bind would) and makes
    mount points for the wanted directories, which it returns."""
    wanted = {Path("/etc") / name for name in _ETC}
    wanted |= {p for pattern in _ETC_GLOBS for p in Path("/etc").glob(pattern)}
    etc.mkdir(mode=0o755)
    dirs = []
    for source in sorted(p for p in wanted if p.exists()):
        target = etc / source.relative_to("/etc")
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            target.mkdir(exist_ok=True)
            dirs.append(source)
        else:
            shutil.copyfile(source, target)
            target.chmod(0o644)
    for name, text in _GENERATED.items():
        (etc / name).write_text(text)
        (etc / name).chmod(0o644)
    return dirs


def _system_args(
    extra: Sequence[Path], tmp_mb: int, etc: Path, etc_dirs: Sequence[Path]
) -> list[str]:
    args = ["--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    args += ["--cap-drop", "ALL", "--uid", str(UID), "--gid", str(UID), "--hostname", "sandbox"]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    args += ["--ro-bind", str(etc), "/etc"]
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
