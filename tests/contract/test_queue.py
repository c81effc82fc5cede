"""Contract suite for the Queue port (LocalQueue and MemoryQueue), plus LocalQueue's delivery
semantics: delay, backoff, dead letters, restarts, crashes and several processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.adapters.local_queue import LocalQueue
from shared.domain import Stage, StageRequest
from shared.errors import ErrandError
from shared.fakes import MemoryQueue
from shared.ports import Queue


def _conforms(a: LocalQueue, b: MemoryQueue) -> list[Queue]:
    return [a, b]  # mypy checks that both implement the port


def _request(task: str = "t_1", stage: Stage = Stage.PREPARE, rnd: int = 0) -> StageRequest:
    return StageRequest(task_id=task, stage=stage, round=rnd)


class Recorder:
    """A delivery target that records each call and answers what `answer` says."""

    def __init__(self, answer: Callable[[StageRequest, int], int] = lambda r, n: 200) -> None:
        self.answer = answer
        self.calls: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    def __call__(self, body: bytes) -> int:
        request = StageRequest.model_validate_json(body)
        with self._lock:
            self.calls.append((request.delivery_name(), time.time()))
            attempt = sum(1 for name, _ in self.calls if name == request.delivery_name())
        return self.answer(request, attempt)

    def times(self, name: str) -> list[float]:
        return [at for n, at in self.calls if n == name]


@pytest.fixture
def make_queue(tmp_path: Path) -> Iterator[Callable[..., LocalQueue]]:
    made: list[LocalQueue] = []

    def make(deliver: Callable[[bytes], int], **options: float) -> LocalQueue:
        options = {"min_backoff_s": 0.05, "max_backoff_s": 1.0, **options}
        queue = LocalQueue(tmp_path / "queue.db", deliver, **options)  # type: ignore[arg-type]
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close()


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ---------------------------------------------------------------------------- the port


@pytest.fixture(params=["local", "memory"])
def queue(request: pytest.FixtureRequest, make_queue: Callable[..., LocalQueue]) -> Queue:
    return make_queue(Recorder()) if request.param == "local" else MemoryQueue()


def test_enqueue_dedupes_by_delivery_name(queue: Queue) -> None:
    assert queue.enqueue(_request()) is True
    assert queue.enqueue(_request()) is False
    assert queue.enqueue(_request(rnd=1)) is True
    assert queue.enqueue(_request(stage=Stage.PLAN)) is True
    assert queue.enqueue(_request(task="t_2"), delay_s=5) is True


def test_memory_queue_records_requests() -> None:
    queue = MemoryQueue()
    queue.enqueue(_request())
    queue.enqueue(_request(stage=Stage.PLAN), delay_s=2)
    queue.enqueue(_request())
    assert queue.pop_all() == [_request(), _request(stage=Stage.PLAN)]
    assert queue.delays == {"t_1-prepare-0": 0.0, "t_1-plan-0": 2}
    assert queue.pop_all() == []


# ---------------------------------------------------------------------------- LocalQueue


def test_delivers_at_once_and_remembers_the_name(make_queue: Callable[..., LocalQueue]) -> None:
    target = Recorder()
    queue = make_queue(target)
    queue.start()
    enqueued = time.time()
    assert queue.enqueue(_request())
    assert queue.drain(5)
    latency = target.times("t_1-prepare-0")[0] - enqueued
    print(f"\nin-process enqueue → delivery: {latency * 1000:.1f} ms")
    assert latency < 0.2
    assert queue.enqueue(_request()) is False  # tombstone after delivery
    assert queue.drain(5)
    assert len(target.calls) == 1
    assert queue.stats() == {"pending": 0, "inflight": 0, "done": 1, "dead": 0}


def test_delay_is_honoured(make_queue: Callable[..., LocalQueue]) -> None:
    target = Recorder()
    queue = make_queue(target)
    queue.start()
    enqueued = time.time()
    queue.enqueue(_request(), delay_s=0.3)
    queue.enqueue(_request(stage=Stage.PLAN))
    assert queue.drain(5)
    assert target.times("t_1-plan-0")[0] - enqueued < 0.2
    assert 0.3 <= target.times("t_1-prepare-0")[0] - enqueued < 0.8


def test_retries_with_backoff_then_succeeds(make_queue: Callable[..., LocalQueue]) -> None:
    target = Recorder(lambda r, attempt: 500 if attempt < 3 else 204)
    queue = make_queue(target, min_backoff_s=0.1)
    queue.start()
    queue.enqueue(_request())
    assert queue.drain(5)
    first, second, third = target.times("t_1-prepare-0")
    assert 0.08 <= second - first < 0.5  # 0.1 s ± 20% jitter
    assert 0.16 <= third - second < 0.7  # 0.2 s ± 20% jitter
    assert queue.stats()["done"] == 1


def test_dead_letter_after_max_attempts(make_queue: Callable[..., LocalQueue]) -> None:
    target = Recorder(lambda r, attempt: 503)
    queue = make_queue(target, max_attempts=3, min_backoff_s=0.01)
    queue.start()
    queue.enqueue(_request())
    assert queue.drain(5)
    assert len(target.calls) == 3
    assert queue.stats() == {"pending": 0, "inflight": 0, "done": 0, "dead": 1}
    [dead] = queue.dead_letters()
    assert (dead.name, dead.attempts) == ("t_1-prepare-0", 3)
    assert "HTTP 503" in dead.last_error
    assert StageRequest.model_validate_json(dead.body) == _request()


def test_on_dead_is_told_once_per_dead_delivery(make_queue: Callable[..., LocalQueue]) -> None:
    reported: list[tuple[StageRequest, str]] = []

    def on_dead(body: bytes, error: str) -> None:
        reported.append((StageRequest.model_validate_json(body), error))

    target = Recorder(lambda request, attempt: 200 if request.task_id == "t_ok" else 503)
    queue = make_queue(target, max_attempts=2, min_backoff_s=0.01, on_dead=on_dead)
    queue.start()
    for task in ("t_a", "t_ok", "t_b"):
        queue.enqueue(_request(task=task))
    assert queue.drain(5)
    queue.stop()  # joins the workers, and so waits for on_dead
    assert len(target.calls) == 5
    assert sorted(reported, key=lambda r: r[0].task_id) == [
        (_request(task="t_a"), "delivery answered HTTP 503"),
        (_request(task="t_b"), "delivery answered HTTP 503"),
    ]


def test_an_on_dead_that_raises_is_logged_and_the_worker_goes_on(
    make_queue: Callable[..., LocalQueue], caplog: pytest.LogCaptureFixture
) -> None:
    told: list[bytes] = []

    def on_dead(body: bytes, error: str) -> None:
        told.append(body)
        raise RuntimeError("store unavailable")

    target = Recorder(lambda request, attempt: 500 if request.task_id == "t_bad" else 200)
    queue = make_queue(target, max_attempts=1, concurrency=1, on_dead=on_dead)
    queue.start()
    queue.enqueue(_request(task="t_bad"))
    assert queue.drain(5)
    queue.enqueue(_request(task="t_good"))
    assert queue.drain(5)
    queue.stop()
    assert [StageRequest.model_validate_json(b).task_id for b in told] == ["t_bad"]
    assert queue.stats() == {"pending": 0, "inflight": 0, "done": 1, "dead": 1}
    assert "on_dead for t_bad-prepare-0 raised; the delivery stays dead" in caplog.text
    assert "store unavailable" in caplog.text


def test_at_least_once_when_delivery_raises(make_queue: Callable[..., LocalQueue]) -> None:
    def flaky(request: StageRequest, attempt: int) -> int:
        if attempt == 1:
            raise ConnectionError("dispatch function unreachable")
        return 200

    target = Recorder(flaky)
    queue = make_queue(target, min_backoff_s=0.01)
    queue.start()
    for i in range(10):
        queue.enqueue(_request(task=f"t_{i}"))
    assert queue.drain(10)
    assert sorted({name for name, _ in target.calls}) == sorted(
        f"t_{i}-prepare-0" for i in range(10)
    )
    assert all(len(target.times(f"t_{i}-prepare-0")) == 2 for i in range(10))
    assert queue.stats()["done"] == 10


def test_pending_deliveries_survive_a_restart(make_queue: Callable[..., LocalQueue]) -> None:
    before = make_queue(Recorder())
    for stage in (Stage.PREPARE, Stage.PLAN, Stage.EXECUTE):
        before.enqueue(_request(stage=stage))
    before.close()  # never started: nothing delivered
    target = Recorder()
    after = make_queue(target)
    after.start()
    assert after.drain(5)
    assert len(target.calls) == 3
    assert after.enqueue(_request()) is False


_CRASHING_WORKER = """
import sys, time
from pathlib import Path
from shared.adapters.local_queue import LocalQueue
from shared.domain import StageRequest, Stage
def deliver(body):
    print("claimed", flush=True)
    time.sleep(60)
    return 200
queue = LocalQueue(Path(sys.argv[1]), deliver, lease_s=0.5)
queue.enqueue(StageRequest(task_id="t_1", stage=Stage.PREPARE))
queue.start()
time.sleep(60)
"""


def test_a_crashed_workers_lease_expires_and_is_redelivered(
    tmp_path: Path, make_queue: Callable[..., LocalQueue]
) -> None:
    proc = _python(_CRASHING_WORKER, str(tmp_path / "queue.db"))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "claimed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    target = Recorder()
    queue = make_queue(target)
    assert queue.stats()["inflight"] == 1
    queue.start()
    assert queue.drain(5)
    assert [name for name, _ in target.calls] == ["t_1-prepare-0"]
    assert queue.stats()["done"] == 1


def test_on_dead_hears_of_a_last_attempt_whose_worker_vanished(
    tmp_path: Path, make_queue: Callable[..., LocalQueue]
) -> None:
    proc = _python(_CRASHING_WORKER, str(tmp_path / "queue.db"))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "claimed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    reported: list[tuple[bytes, str]] = []
    target = Recorder()
    queue = make_queue(target, max_attempts=1, on_dead=lambda b, e: reported.append((b, e)))
    queue.start()
    assert queue.drain(5)
    queue.stop()
    assert target.calls == [] and queue.stats()["dead"] == 1
    assert [(StageRequest.model_validate_json(b), e) for b, e in reported] == [
        (_request(), "the worker delivering attempt 1 never reported back")
    ]


_ENQUEUE_MANY = """
import sys, time
from pathlib import Path
from shared.adapters.local_queue import LocalQueue
from shared.domain import StageRequest, Stage
queue = LocalQueue(Path(sys.argv[1]), lambda body: 200)
names = [f"t_shared{i}" for i in range(50)] + [f"t_{sys.argv[2]}{i}" for i in range(25)]
start = float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
print(sum(queue.enqueue(StageRequest(task_id=n, stage=Stage.PLAN)) for n in names))
queue.close()
"""


def test_concurrent_enqueue_from_two_processes(
    tmp_path: Path, make_queue: Callable[..., LocalQueue]
) -> None:
    path = str(tmp_path / "queue.db")
    start = str(time.time() + 1.0)  # both begin together, after their imports
    procs = [_python(_ENQUEUE_MANY, path, tag, start) for tag in ("a", "b")]
    accepted = 0
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        accepted += int(out)
    assert accepted == 100  # 50 shared names once, 25 + 25 own names
    assert make_queue(Recorder()).stats()["pending"] == 100


def test_picks_up_deliveries_enqueued_by_another_process(
    tmp_path: Path, make_queue: Callable[..., LocalQueue]
) -> None:
    target = Recorder()
    queue = make_queue(target)
    queue.start()
    code = (
        "import sys, time; from pathlib import Path\n"
        "from shared.adapters.local_queue import LocalQueue\n"
        "from shared.domain import StageRequest, Stage\n"
        "q = LocalQueue(Path(sys.argv[1]), lambda b: 200); t = time.time()\n"
        "q.enqueue(StageRequest(task_id='t_9', stage=Stage.PLAN)); print(t); q.close()"
    )
    out, err = _python(code, str(tmp_path / "queue.db")).communicate(timeout=60)
    assert queue.drain(5), err
    latency = target.times("t_9-plan-0")[0] - float(out)
    print(f"\nenqueue in another process → delivery: {latency * 1000:.1f} ms")
    assert latency < 0.5


def test_stop_joins_threads_and_drain_needs_a_worker(
    make_queue: Callable[..., LocalQueue],
) -> None:
    queue = make_queue(Recorder())
    with pytest.raises(ErrandError, match="start"):
        queue.drain(1)
    before = set(threading.enumerate())
    queue.start()
    queue.start()  # idempotent
    queue.enqueue(_request(stage=Stage.PLAN))
    assert queue.drain(5)
    started = set(threading.enumerate()) - before
    assert {t.name.split("_")[0] for t in started} == {"errand-queue", "errand-queue-scheduler"}
    queue.stop()
    assert not any(t.is_alive() for t in started)
    queue.enqueue(_request())  # still usable: persisted for the next worker
    assert queue.stats()["pending"] == 1


# ---------------------------------------------------------------------------- room on the machine


def test_a_gate_holds_new_work_while_the_machine_is_full_and_loses_nothing(
    make_queue: Callable[..., LocalQueue],
) -> None:
    """Prepares (new work) wait while `running` executions fill the machine; the other stages
    go past them; once room frees up every held one is delivered, once, on its first attempt."""
    from shared.adapters.local_jobs import NewWorkGate

    running = [2]
    gate = NewWorkGate(lambda: running[0], limit=2)
    recorder = Recorder()
    q = make_queue(recorder, poll_interval_s=0.02, gate=gate)
    for n in range(5):
        assert q.enqueue(_request(f"t_{n}", Stage.PREPARE))
    assert q.enqueue(_request("t_busy", Stage.EXECUTE))
    q.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not recorder.calls:
        time.sleep(0.02)
    time.sleep(0.3)
    assert [name for name, _ in recorder.calls] == ["t_busy-execute-0"]
    assert q.stats()["pending"] == 5
    running[0] = 0  # the machine frees up: the delivery is what starts an execution here
    assert q.drain(5)
    names = sorted(name for name, _ in recorder.calls)
    assert names == sorted(["t_busy-execute-0", *(f"t_{n}-prepare-0" for n in range(5))])
    assert q.dead_letters() == []


def test_the_gate_counts_deliveries_it_let_through_until_they_return(
    make_queue: Callable[..., LocalQueue],
) -> None:
    """With room for 2 and deliveries that take a while, never more than 2 are under way."""
    from shared.adapters.local_jobs import NewWorkGate

    under_way, most = [0], [0]
    lock = threading.Lock()

    def slow(body: bytes) -> int:
        with lock:
            under_way[0] += 1
            most[0] = max(most[0], under_way[0])
        time.sleep(0.15)
        with lock:
            under_way[0] -= 1
        return 200

    q = make_queue(slow, poll_interval_s=0.01, gate=NewWorkGate(lambda: 0, limit=2))
    for n in range(6):
        q.enqueue(_request(f"t_{n}", Stage.PREPARE))
    q.start()
    assert q.drain(10)
    assert most[0] == 2
