"""The warm job pool: a single-threaded process that imports everything a stage needs once,
then forks one child per stage execution. A fork of a warm interpreter starts in milliseconds,
where a fresh `python -m jobs.entrypoint` pays ~2.5 s of imports (litellm alone takes ~2 s) on
every stage. Each stage still runs in its own process, as on Cloud Run Jobs.

Protocol on the unix socket: the client sends one JSON line `{"request": {...}, "execution_id":
"..."}` and reads one JSON line back, `{"pid": N}` or `{"error": "..."}`.

The zygote starts no threads (and opens no database) so that fork() is safe; anything that needs
the store after a crash is done in a short-lived forked child too."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from shared import paths
from shared.domain import StageRequest
from shared.settings import Settings

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
SPARE_NAME = b"errand-spare"  # its /proc/PID/comm while it waits, so tools can tell it apart


def _child(request: StageRequest, log_path: Path) -> None:
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 70
    try:
        from jobs.runner import run_stage
        from shared.wiring import Deps

        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(message)s", force=True
        )
        code = run_stage(Deps(Settings.from_env()), request)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _fork_spare(listener: socket.socket) -> tuple[int, int]:
    """A child forked ahead of the next request, waiting for it on a pipe: forking a pool this
    size takes tens of milliseconds, paid here between stages rather than by the next one.
    Returns (pid, the pipe's write end)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        listener.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        name = Path("/proc/self/comm").read_bytes().strip()
        _set_name(SPARE_NAME)
        request, log_path = _spare(read_end)
        _set_name(name)  # an execution like any other from here on
        _child(request, log_path)
    os.close(read_end)
    return pid, write_end


def _set_name(name: bytes) -> None:
    ctypes.CDLL(None).prctl(PR_SET_NAME, ctypes.c_char_p(name[:15]), 0, 0, 0)


def _spare(read_end: int) -> tuple[StageRequest, Path]:
    """Waits for the request; exits when the pool ends first."""
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    if not chunks:  # the pool ended (its end of the pipe closed) without giving it work
        os._exit(0)
    try:
        msg = json.loads(b"".join(chunks))
        request = StageRequest.model_validate(msg["request"])
        log_path = Path(msg["log_path"])
    except Exception:  # the pool validated it already; never run a garbled request
        os._exit(70)
    return request, log_path


def _hand_over(spare: tuple[int, int] | None, request: StageRequest, log_path: Path) -> int | None:
    """Gives the request to the spare; its pid, or None when it died meanwhile (then the pool
    forks a child for the request at once)."""
    if spare is None:
        return None
    pid, write_end = spare
    msg = {"request": request.model_dump(mode="json"), "log_path": str(log_path)}
    try:
        os.write(write_end, json.dumps(msg).encode())  # < PIPE_BUF: one atomic write
    except OSError:
        return None
    finally:
        os.close(write_end)
    return pid


def _report_crash(request: StageRequest, how: str, log_path: Path) -> None:
    if os.fork() != 0:
        return
    code = 0
    try:
        from jobs.runner import execution_died
        from shared.wiring import Deps

        execution_died(Deps(Settings.from_env()), request, how, str(log_path))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"was killed by signal {signal.Signals(sig).name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


def prewarm(speech: str) -> None:
    """Everything a stage would otherwise load on its first use: modules, litellm and its first
    completion's provider code, the tokenizer, the tree-sitter grammars and the voice of
    `speech` (ERRAND_SPEECH). It must not leave threads behind (fork follows)."""
    import threading

    from jobs import runner  # noqa: F401  (imports every stage)
    from jobs.agent.repomap import LANGUAGES, extract_symbols
    from jobs.agent.retrieval import litellm_token_counter
    from shared.adapters import speech as speech_adapters
    from shared.errors import ErrandError
    from shared.wiring import prewarm as prewarm_adapters

    prewarm_adapters()
    litellm_token_counter("gpt-4o")("warm up the tokenizer")
    for language in set(LANGUAGES.values()):
        extract_symbols("", language)
    if threading.active_count() != 1:
        names = [t.name for t in threading.enumerate()]
        raise RuntimeError(f"prewarming started threads {names}; forking would be unsafe")
    # last: the model warm-up above forks a responder, and the voice's runtime is loaded here
    try:
        speech_adapters.prewarm(speech)
    except ErrandError as exc:  # the summarize stage reports a broken voice to its task
        print(f"warning: the voice warm-up failed ({exc}); summaries load it", file=sys.stderr)


def die_with_parent() -> None:
    """The pool belongs to the server that started it: when the server dies, even by SIGKILL,
    the kernel sends the pool SIGTERM (running executions are their own sessions and finish
    their stages; their leases tell a restarted server they live)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def serve(socket_path: Path, settings: Settings) -> None:
    home = settings.home
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the server died before the death signal was armed
        return
    prewarm(settings.speech)
    # what prewarming built lives as long as the pool: out of the collector's reach, so that a
    # forked execution's collections neither scan it nor touch (copy) its shared pages
    gc.collect()
    gc.freeze()
    children: dict[int, tuple[StageRequest, Path]] = {}
    if socket_path.exists():
        socket_path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    os.chmod(socket_path, 0o600)
    listener.listen(64)
    listener.settimeout(0.2)
    paths.jobs_dir(home).mkdir(parents=True, exist_ok=True)
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    spare: tuple[int, int] | None = _fork_spare(listener)
    print("ready", flush=True)
    while not stop and os.getppid() == parent:
        _reap(children)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(5)
            try:
                line = conn.makefile("rb").readline()
                msg = json.loads(line)
                request = StageRequest.model_validate(msg["request"])
                log_path = paths.job_log(home, str(msg["execution_id"]))
            except Exception as exc:  # a bad client must not take the pool down
                conn.sendall(json.dumps({"error": f"bad job request: {exc}"}).encode() + b"\n")
                continue
            pid = _hand_over(spare, request, log_path)
            spare = None
            if pid is None:
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    _child(request, log_path)
            children[pid] = (request, log_path)
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        spare = _fork_spare(listener)
    listener.close()
    socket_path.unlink(missing_ok=True)
    if spare is not None:  # its pipe closing ends it; wait, so that nothing outlives the pool
        os.close(spare[1])
        with contextlib.suppress(ChildProcessError):
            os.waitpid(spare[0], 0)


def _reap(children: dict[int, tuple[StageRequest, Path]]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        entry = children.pop(pid, None)
        if entry is None:
            continue  # a crash reporter finishing
        if status != 0:
            _report_crash(entry[0], _describe(status), entry[1])


if __name__ == "__main__":
    settings = Settings.from_env()
    serve(Path(sys.argv[1]), settings)
    # skip finalizing the hundreds of prewarmed modules: it takes seconds, and a pool told to
    # stop (its server died) must be gone at once
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
