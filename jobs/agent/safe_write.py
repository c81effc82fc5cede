"""Reading and writing files of a workspace that untrusted code writes too.

The trusted side touches the workspace on the host in two ways only: it creates a new file
(O_CREAT|O_EXCL|O_NOFOLLOW, below directories opened with O_NOFOLLOW one at a time, so no symlink
the untrusted side planted is ever followed) and it removes that file again. Everything else,
reading a file and moving new content into place, runs inside the sandbox, where a symlink can
only lead to what the sandbox sees anyway. What comes back out is parsed as data."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import InvalidInput, SandboxError
from shared.ports import CommandResult

SANDBOX_WORKSPACE = "/workspace"
SANDBOX_REPO = "/workspace/repo"
MAX_ENTRIES = 1000  # directory entries listed
_BEGIN, _END = "@@ERRAND-BEGIN@@", "@@ERRAND-END@@"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

# Both scripts run with `python3 -I` (the repository's own modules cannot shadow the standard
# library) and answer with one base64 block: a JSON header line, then any file bytes.
_PRELUDE = f"""\
import base64, json, os, stat, sys
R = {SANDBOX_REPO!r}
def inside(p):
    return p == R or p.startswith(R + "/")
def put(head, data=b""):
    blob = base64.encodebytes(json.dumps(head).encode() + b"\\n" + data).decode()
    sys.stdout.write("\\n{_BEGIN}\\n" + blob + "{_END}\\n")
"""
_READ = (
    _PRELUDE
    + f"""\
rel, off, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
real = os.path.realpath(os.path.join(R, rel))
try:
    if not inside(real):
        put({{"kind": "outside"}})
    elif os.path.isdir(real):
        names = sorted(os.listdir(real))
        shown = [n + "/" * os.path.isdir(os.path.join(real, n)) for n in names[:{MAX_ENTRIES}]]
        put({{"kind": "dir", "entries": shown, "total": len(names)}})
    else:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            put({{"kind": "other"}})
        else:
            put({{"kind": "file", "size": st.st_size, "mtime": st.st_mtime_ns}},
                os.pread(fd, size, off))
except (FileNotFoundError, NotADirectoryError):
    put({{"kind": "missing"}})
except OSError as exc:
    put({{"kind": "error", "message": str(exc)}})
"""
)
_COMMIT = (
    _PRELUDE
    + f"""\
errors, plan = [], []
for op in json.loads(sys.argv[1]):
    rel, src = op["path"], op["src"]
    folder = os.path.realpath(os.path.dirname(os.path.join(R, rel)))
    target = os.path.join(folder, os.path.basename(rel))
    if not inside(folder):
        errors.append(rel + ": its directory leads outside the repository (a symlink)")
    elif src is None and not os.path.lexists(target):
        errors.append(rel + ": does not exist, so it cannot be deleted")
    elif src is None and os.path.isdir(target) and not os.path.islink(target):
        errors.append(rel + ": is a directory, not a file")
    elif src is not None and os.path.lexists(target):
        real = os.path.realpath(target)
        if op["new"]:
            errors.append(rel + ": already exists")
        elif not inside(real):
            errors.append(rel + ": is a symlink that leads outside the repository")
        elif not os.path.isfile(real):
            errors.append(rel + ": exists and is not a regular file")
        else:
            plan.append((src, real))
    else:
        plan.append((src, target))
if errors:
    put({{"ok": False, "errors": errors}})
    sys.exit(0)
done = 0
try:
    for src, target in plan:
        if src is None:
            os.unlink(target)
        elif os.path.exists(target):
            staged = os.path.join({SANDBOX_WORKSPACE!r}, src)
            os.chmod(staged, stat.S_IMODE(os.stat(target).st_mode))
            os.replace(staged, target)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(os.path.join({SANDBOX_WORKSPACE!r}, src), target)
        done += 1
except OSError as exc:
    put({{"ok": False, "errors": [str(exc)], "partial": done > 0}})
    sys.exit(0)
put({{"ok": True}})
"""
)


def _parts(relpath: str) -> list[str]:
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or relpath.startswith("/"):
        raise InvalidInput(f"unsafe path {relpath!r}: must be relative and stay inside the tree")
    return parts


def _open_dir(root: Path, parts: list[str]) -> int:
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts:
            nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_new_file(root: Path, relpath: str, data: bytes, mode: int = 0o644) -> None:
    """Creates root/relpath holding `data`. Fails (FileExistsError, or OSError ELOOP/ENOTDIR)
    rather than follow a symlink or overwrite anything; its directories must exist."""
    parts = _parts(relpath)
    dir_fd = _open_dir(root, parts[:-1])
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(parts[-1], flags, mode, dir_fd=dir_fd)
        try:
            os.fchmod(fd, mode)  # whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.unlink(parts[-1], dir_fd=dir_fd)
            raise
        finally:
            os.close(fd)
    finally:
        os.close(dir_fd)


def remove_file(root: Path, relpath: str) -> bool:
    """Removes the name root/relpath (a symlink itself, never its target); False if missing."""
    parts = _parts(relpath)
    try:
        dir_fd = _open_dir(root, parts[:-1])
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        os.unlink(parts[-1], dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    finally:
        os.close(dir_fd)
    return True


@dataclass(frozen=True)
class FileState:
    """What is at a repository path. kind: file, dir, missing, outside (a symlink leading out
    of the repository), other (fifo, socket, device) or error (then `message` says why)."""

    path: str
    kind: str
    data: bytes = b""
    entries: tuple[str, ...] = ()  # a directory's first MAX_ENTRIES names; "/" marks subdirs
    total: int = 0  # a directory's number of entries
    message: str = ""


class WorkspaceFiles:
    """Reads and writes files of /workspace/repo through `run`, which runs a command in the
    sandbox that sees `workspace` as /workspace. Paths are relative to the repository and
    already normalised (no '..', not absolute).

    Files are read in chunks of `chunk_bytes`, which base64 makes about 1.4 times larger in the
    command's output: keep it well under the sandbox's output limit."""

    def __init__(
        self,
        run: Callable[[str], CommandResult],
        workspace: Path,
        *,
        chunk_bytes: int = 96_000,
        max_file_bytes: int = 2_000_000,
    ) -> None:
        self._run, self._workspace = run, workspace
        self._chunk, self.max_file_bytes = chunk_bytes, max_file_bytes

    def read(self, path: str) -> FileState:
        data = bytearray()
        first: tuple[object, object] | None = None
        while True:
            head, chunk = self._call(_READ, path, str(len(data)), str(self._chunk))
            kind = str(head.get("kind"))
            if kind == "dir":
                entries = tuple(str(e) for e in head.get("entries", []))
                return FileState(path, kind, entries=entries, total=int(head.get("total", 0)))
            if kind != "file":
                return FileState(path, kind, message=str(head.get("message", "")))
            size = int(head["size"])
            if size > self.max_file_bytes:
                raise InvalidInput(
                    f"{path} is {size} bytes, more than the {self.max_file_bytes} the file tools "
                    "handle; work on it with bash instead"
                )
            if first is not None and first != (size, head.get("mtime")):
                raise InvalidInput(f"{path} changed while it was being read; try again")
            first = (size, head.get("mtime"))
            data += chunk
            if len(data) >= size or not chunk:
                return FileState(path, kind, bytes(data))

    def write(self, changes: Mapping[str, bytes | None], new: Collection[str] = ()) -> None:
        """Puts every change in place in one sandbox command: bytes replace or create the file
        (its mode kept, its directories created), None deletes it. A path in `new` must not
        exist yet. Nothing is changed when any change is refused (InvalidInput says why)."""
        ops: list[dict[str, Any]] = []
        staged: list[str] = []
        try:
            for path, data in changes.items():
                src = None
                if data is not None:
                    src = f".errand-staged-{secrets.token_hex(8)}"
                    write_new_file(self._workspace, src, data)
                    staged.append(src)
                ops.append({"path": path, "src": src, "new": path in new})
            head, _ = self._call(_COMMIT, json.dumps(ops))
        finally:
            for src in staged:
                remove_file(self._workspace, src)
        if not head.get("ok"):
            errors = "; ".join(str(e) for e in head.get("errors", []))
            done = " Some files may already have changed." if head.get("partial") else ""
            raise InvalidInput(f"could not write: {errors}.{done}")

    def _call(self, script: str, *args: str) -> tuple[dict[str, Any], bytes]:
        command = shlex.join(["python3", "-I", "-c", script, *args])
        result = self._run(command)
        out = result.output
        start = out.rfind(f"\n{_BEGIN}\n")
        end = out.find(_END, start)
        if result.exit_code != 0 or start < 0 or end < 0 or result.truncated:
            raise SandboxError(
                f"the sandbox's file helper failed (exit code {result.exit_code}"
                f"{', output cut: lower chunk_bytes' if result.truncated else ''}): {out[-800:]}"
            )
        raw = base64.b64decode(out[start + len(_BEGIN) + 2 : end])
        line, _, data = raw.partition(b"\n")
        head = json.loads(line)
        if not isinstance(head, dict):
            raise SandboxError(f"the sandbox's file helper answered {line[:200]!r}")
        return head, data
