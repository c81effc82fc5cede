"""One bwrap process: started, fed to the output collector, and killed as a whole on demand."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from shared.adapters.sandbox_output import Feed
from shared.adapters.slirp import Slirp

# bwrap's own environment, nothing of ours: pid 1 inside the sandbox is bwrap, and shows it.
TOOL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
# Joins the command's cgroups, then becomes bwrap: nothing can fork before the move. (On
# cgroup v1 the first move after a pause waits for an RCU grace period, 5-15 ms. Moving bwrap
# while it builds the sandbox instead, held with --block-fd, was slower still: its own mount
# work stretches the grace period.)
_ENTER_CGROUPS = (
    'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
)
# With network, the command first says it is running (so bwrap has finished its own setup of
# the namespace) and waits until slirp4netns is attached; then it drops both pipes.
_AWAIT_NETWORK = (
    'echo >&{ready}; exec {ready}>&-; read -r _ <&{go}; exec {go}<&-; exec "$0" -c "$1"'
)


class BwrapProcess:
    """Runs on its own thread: --die-with-parent follows the thread that forked bwrap, so that
    thread lives until bwrap ends. `args` are bwrap's NUL-separated arguments; `files` the
    descriptors they name (the caller keeps and closes them). `exit_code` is the command's
    (None when it never ran), `error` whatever went wrong on that thread."""

    def __init__(
        self,
        bwrap: str,
        args: bytes,
        files: Sequence[int],
        command: str,
        cgroup_procs: Sequence[Path],
        slirp: Slirp | None,
        blocked_egress: Sequence[str],
        output: Feed,
    ) -> None:
        self._bwrap, self._args, self._files, self._command = bwrap, args, files, command
        self._cgroup_procs = [str(path) for path in cgroup_procs]
        self._slirp, self._blocked, self._output = slirp, blocked_egress, output
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pidfd = -1
        self._killed = False
        self.exit_code: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="sandbox-run", daemon=True)

    def kill(self) -> None:
        """SIGKILL to the namespace's pid 1 (whose death takes every process inside) and to
        bwrap. Safe from any thread, at any time."""
        with self._lock:
            self._killed = True
            with contextlib.suppress(ProcessLookupError):
                if self._pidfd >= 0:
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
                if self._proc is not None:
                    self._proc.kill()

    def _main(self) -> None:
        status_r, status_w = os.pipe()
        ready_r, ready_w = os.pipe() if self._slirp else (-1, -1)
        go_r, go_w = os.pipe() if self._slirp else (-1, -1)
        # In memory, not a file: nothing to clean up, and the arguments (the environment given
        # to the command among them) never touch a disk.
        args_fd = os.memfd_create("bwrap-args", os.MFD_CLOEXEC)
        view = memoryview(self._args)
        while view:
            view = view[os.write(args_fd, view) :]
        os.lseek(args_fd, 0, os.SEEK_SET)
        child_fds = [fd for fd in (status_w, args_fd, ready_w, go_r) if fd >= 0]
        argv = [self._bwrap, "--args", str(args_fd), "--json-status-fd", str(status_w), "--"]
        if self._slirp is not None:
            prelude = _AWAIT_NETWORK.format(ready=ready_w, go=go_r)
            argv += ["/bin/bash", "-c", prelude, "/bin/bash", self._command]
        else:
            argv += ["/bin/bash", "-c", self._command]
        if self._cgroup_procs:
            argv = ["/bin/sh", "-c", _ENTER_CGROUPS, "sh", *self._cgroup_procs, "--", *argv]
        try:
            with self._lock:
                if self._killed:
                    return
                self._proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    pass_fds=[*child_fds, *self._files],
                    env=TOOL_ENV,
                )
            for fd in child_fds:
                os.close(fd)
            child_fds = []
            self._watch(status_r, ready_r, go_w)
        except BaseException as exc:  # handed over to the caller's thread
            self.error = exc
            self.kill()
            if self._proc is not None:
                self._proc.wait()
        finally:
            for fd in (*child_fds, status_r, ready_r, go_w):
                if fd >= 0:
                    os.close(fd)
            with self._lock:
                if self._pidfd >= 0:
                    os.close(self._pidfd)
                    self._pidfd = -1

    def _watch(self, status_r: int, ready_r: int, go_w: int) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        status = _read_status(status_r)
        if "child-pid" in status:
            # bwrap, its parent, reaps it only once it is dead: so this names that very process
            with self._lock, contextlib.suppress(ProcessLookupError):
                self._pidfd = os.pidfd_open(status["child-pid"])
            if self._killed:
                self.kill()
            elif self._slirp is not None and os.read(ready_r, 1) == b"\n":
                self._slirp.start(status["child-pid"], self._blocked)
                os.write(go_w, b"go\n")
        with self._proc.stdout as stream:
            while chunk := os.read(stream.fileno(), 65536):
                self._output.feed(chunk)
        self._proc.wait()
        final = _read_status(status_r)
        if "exit-code" in final:
            self.exit_code = final["exit-code"]


def _read_status(fd: int) -> dict[str, int]:
    """The next JSON document bwrap wrote to its status fd ({} at end of file)."""
    data = b""
    while not data.endswith(b"\n") and (chunk := os.read(fd, 1)):
        data += chunk
    return {k: v for k, v in json.loads(data).items() if isinstance(v, int)} if data.strip() else {}
