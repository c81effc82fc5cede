"""The Jobs contract for ContainerJobs: a real prepare stage run in the sandbox image by podman
(or docker), with bubblewrap working inside the container.

The image is built once per session from sandbox_image/Dockerfile (the engine's layer cache makes
a rebuild after a code change take seconds). With no base image and no registry, the base is made
with debootstrap, as sandbox_image/README.md describes: the first run on a machine takes a few
minutes, later runs reuse it."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from shared import paths
from shared.adapters.container_jobs import ContainerJobs, container_name, detect_engine
from shared.adapters.local_jobs import JobStartError
from shared.adapters.sqlite_store import SqliteStore
from shared.domain import EventKind, Stage, StageRequest, Status, Task
from tests.support.gitrepo import make_repo

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/errand-base:bookworm"
IMAGE = "localhost/errand-job-test:latest"
MIRROR = "http://deb.debian.org/debian"
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
STAGE_TIMEOUT_S = 240.0


def _engine_ok(engine: str, *args: str, timeout: float = 60) -> bool:
    return subprocess.run([engine, *args], capture_output=True, timeout=timeout).returncode == 0


def _run_or_fail(
    args: list[str], what: str, timeout: float, stdin: IO[bytes] | None = None
) -> None:
    done = subprocess.run(args, stdin=stdin, capture_output=True, timeout=timeout)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")
        pytest.fail(f"{what} failed ({done.returncode}):\n{output[-3000:]}")


@pytest.fixture(scope="session")
def engine() -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root: bubblewrap runs inside a rootful podman/docker container here")
    found = detect_engine()
    if found is None:
        pytest.skip(
            "no container engine: neither podman nor docker is installed and able to reach its "
            "engine (apt-get install podman)"
        )
    return found


def _ensure_base(engine: str, scratch: Path) -> None:
    if _engine_ok(engine, "image", "inspect", BASE_IMAGE):
        return
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        pytest.skip(
            f"no base image {BASE_IMAGE} and no debootstrap to make one (no registry is "
            "reachable): apt-get install debootstrap, or see sandbox_image/README.md"
        )
    rootfs = scratch / "rootfs"
    _run_or_fail(
        [debootstrap, "--variant=minbase", "bookworm", str(rootfs), MIRROR], "debootstrap", 900
    )
    with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
        _run_or_fail([engine, "import", "-", BASE_IMAGE], "image import", 600, stdin=tar.stdout)
    shutil.rmtree(rootfs, ignore_errors=True)


def _image_id(engine: str, tag: str) -> str:
    done = subprocess.run(
        [engine, "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else ""


@pytest.fixture(scope="session")
def image(engine: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Built every session so that it holds the code under test; the layer cache keeps that to
    seconds unless the Dockerfile, pyproject.toml or requirements.lock changed."""
    _ensure_base(engine, tmp_path_factory.mktemp("base"))
    previous = _image_id(engine, IMAGE)
    certs = "".join(p.read_text() for p in sorted(EXTRA_CA_DIR.glob("*.crt")))
    args = [engine, "build", "-f", str(ROOT / "sandbox_image/Dockerfile"), "-t", IMAGE]
    args += ["--build-arg", f"BASE={BASE_IMAGE}", "--build-arg", f"EXTRA_CA_CERTS={certs}"]
    if Path(engine).name == "podman":
        args += ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    _run_or_fail([*args, str(ROOT)], "building the sandbox image", 1800)
    if previous and previous != _image_id(engine, IMAGE):  # do not pile up one per code change
        subprocess.run([engine, "rmi", previous], capture_output=True)
    return IMAGE


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir()
    yield path


def _fixture_repo(parent: Path) -> Path:
    return make_repo(
        parent / "shop",
        {
            "AGENTS.md": "Install command: `true`\nTest command: `python3 -m unittest -v`\n",
            "test_math.py": (
                "import unittest\n\n\nclass MathTest(unittest.TestCase):\n"
                "    def test_add(self):\n        self.assertEqual(1 + 1, 2)\n"
            ),
        },
    )


def _wait_for(store: SqliteStore, task_id: str) -> Task:
    deadline = time.monotonic() + STAGE_TIMEOUT_S
    while time.monotonic() < deadline:
        task = store.get_task(task_id)
        if task.status not in (Status.QUEUED, Status.PREPARING):
            return task
        time.sleep(0.5)
    raise AssertionError(f"the prepare stage did not finish within {STAGE_TIMEOUT_S:.0f} s")


def test_prepare_runs_in_the_image_with_the_sandbox_inside(
    engine: str, image: str, home: Path, tmp_path: Path
) -> None:
    repos = tmp_path / "repos"
    repo = _fixture_repo(repos)
    store = SqliteStore(paths.db(home))
    task = store.create_task(
        Task(repo=str(repo), prompt="add a feature", model="openai/gpt-4o-mini")
    )
    crashes: list[tuple[StageRequest, str, str]] = []
    jobs = ContainerJobs(
        engine,
        image,
        home,
        {"ERRAND_INSTALL_TIMEOUT_S": "120", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        volumes=[repos],
        on_crash=lambda *args: crashes.append(args),
    )

    execution = jobs.run(StageRequest(task_id=task.id, stage=Stage.PREPARE))
    done = _wait_for(store, task.id)

    log = paths.job_log(home, execution)
    events = store.read_events(task.id)
    messages = [str(e.data.get("message", "")) for e in events if e.kind == EventKind.LOG]
    assert done.status == Status.PLANNING, (done.error, messages, log.read_text()[-3000:])
    results = [e.data for e in events if e.kind == EventKind.TEST_RESULTS]
    assert results and results[0]["counts"] == {
        "passed": 1,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
    }
    assert any("$ true" in m for m in messages)  # the install ran, with egress, in bwrap
    deadline = time.monotonic() + 60
    while _engine_ok(engine, "container", "inspect", container_name(execution)):
        assert time.monotonic() < deadline, "the finished container was not removed"
        time.sleep(0.5)
    assert crashes == []
    assert log.is_file()


def test_a_missing_image_is_a_clear_start_error(engine: str, home: Path) -> None:
    jobs = ContainerJobs(engine, "localhost/errand-no-such-image:0", home, {})
    with pytest.raises(JobStartError, match=r"could not start the job container.*build the image"):
        jobs.run(StageRequest(task_id="t_missing", stage=Stage.PREPARE))


def test_a_job_that_dies_is_reported_with_its_log(engine: str, image: str, home: Path) -> None:
    crashes: list[tuple[StageRequest, str, str]] = []
    reported = threading.Event()

    def on_crash(request: StageRequest, how: str, log_path: str) -> None:
        crashes.append((request, how, log_path))
        reported.set()

    # A setting the job cannot parse: it exits before running the stage.
    jobs = ContainerJobs(engine, image, home, {"ERRAND_PORT": "eighty"}, on_crash=on_crash)
    request = StageRequest(task_id="t_crash", stage=Stage.PREPARE)
    execution = jobs.run(request)

    assert reported.wait(120), "the crash was not reported"
    assert crashes[0][:2] == (request, "exited with code 1")
    assert crashes[0][2] == str(paths.job_log(home, execution))
    assert "invalid Errand setting" in Path(crashes[0][2]).read_text()


def test_secrets_reach_the_container_by_name_only(home: Path) -> None:
    canary = "sk-canary-0123456789abcdef"
    env = {"ERRAND_MODEL_API_KEY": canary, "HOME": "/root", "AWS_SECRET": "not-for-jobs"}
    jobs = ContainerJobs("/usr/bin/podman", "errand-job", home, env, volumes=[home / "repos"])
    args = jobs.command(StageRequest(task_id="t_1", stage=Stage.PLAN), "t_1-plan-0-abc")

    assert not any(canary in arg or "not-for-jobs" in arg for arg in args)
    names = [args[i + 1] for i, arg in enumerate(args) if arg == "-e"]
    assert names == ["ERRAND_HOME", "ERRAND_MODEL_API_KEY"]
    assert f"{home.resolve()}:{home.resolve()}" in args
    assert args[args.index("--name") + 1] == "errand-t_1-plan-0-abc"
