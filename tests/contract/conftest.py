"""Session-scoped Google Cloud emulators for the contract suites: each starts once, on first
use, and only when a suite asks for its cloud adapter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import gcp_emulators
from shared.gcp_emulators import Emulator
from shared.gcp_settings import GcpSettings


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
