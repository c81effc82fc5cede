"""Session-scoped Google Cloud emulators for the contract suites: each starts once, on first
use, and only when a suite asks for its cloud adapter."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import gcp_emulators
from shared.gcp_emulators import Emulator
from shared.gcp_settings import GcpSettings

ROOT = Path(__file__).resolve().parents[2]
# prints what an execution received: its argument and the overridden environment
RECORDER = (
    "import os, sys; print(sys.argv[1]); "
    "print(os.environ['ERRAND_TASK_ID'], os.environ['ERRAND_STAGE'], os.environ['ERRAND_HOME'])"
)


def standin_state(logs: Path) -> Path:
    return logs / "standin"


@pytest.fixture(scope="session")
def gcp_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gcp-emulators")


@pytest.fixture(scope="session")
def storage_emulator(gcp_logs: Path) -> Iterator[Emulator]:
    emulator = gcp_emulators.start_storage(gcp_logs)
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def gcs_settings(storage_emulator: Emulator, gcp_logs: Path) -> GcpSettings:
    key = gcp_emulators.write_signing_key(gcp_logs / "signing-key.json")
    return GcpSettings(
        project=gcp_emulators.PROJECT,
        bucket=gcp_emulators.BUCKET,
        storage_emulator_host=storage_emulator.env["STORAGE_EMULATOR_HOST"],
        signing_key_file=key,
    )


@pytest.fixture(scope="session")
def standin_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ERRAND_HOME of the Cloud Run stand-in's job executions."""
    return tmp_path_factory.mktemp("standin-home")


@pytest.fixture(scope="session")
def standin(gcp_logs: Path, standin_home: Path) -> Iterator[Emulator]:
    job_env = {**os.environ, "ERRAND_HOME": str(standin_home), "PYTHONPATH": str(ROOT)}
    job_env = {k: v for k, v in job_env.items() if not k.startswith("PYTEST")}
    python = sys.executable
    jobs = {  # Cloud Run jobs besides errand-job, for the Jobs adapter's tests
        "sleeper": [python, "-c", "import time; time.sleep(120)"],
        "failing": [python, "-c", "import sys; sys.exit(3)"],
        "recorder": [python, "-c", RECORDER],
    }
    emulator = gcp_emulators.start_standin(gcp_logs, standin_state(gcp_logs), job_env, jobs)
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def standin_settings(standin: Emulator) -> GcpSettings:
    project = gcp_emulators.PROJECT
    return GcpSettings(
        project=project,
        api_endpoint=standin.env["ERRAND_GCP_API_ENDPOINT"],
        kms_key=f"projects/{project}/locations/global/keyRings/errand/cryptoKeys/credentials",
    )


@pytest.fixture(scope="session")
def firestore_settings(gcp_logs: Path) -> Iterator[GcpSettings]:
    """The client library finds the emulator through FIRESTORE_EMULATOR_HOST in this process's
    environment, as every process run under `errand emulators` does."""
    emulator = gcp_emulators.start_firestore(gcp_logs)
    previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    yield GcpSettings(project=gcp_emulators.PROJECT, firestore_emulator_host=emulator.host)
    if previous is None:
        del os.environ["FIRESTORE_EMULATOR_HOST"]
    else:
        os.environ["FIRESTORE_EMULATOR_HOST"] = previous
    emulator.stop()


@pytest.fixture(scope="session")
def tasks_emulator(gcp_logs: Path) -> Iterator[Emulator]:
    emulator = gcp_emulators.start_tasks(gcp_logs, target_port=gcp_emulators.free_port())
    yield emulator
    emulator.stop()
