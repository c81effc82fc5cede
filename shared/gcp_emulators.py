"""Starts the local emulators and the stand-in server the Google Cloud adapters run against,
each as a child process on a free port, and says which environment selects them.

Used by `errand emulators` and by the cloud adapters' test fixtures, so both run the same
emulators the same way. Installed by scripts/setup.d/50-gcp.sh: the Firestore emulator under
.gcp-emulators/, the Cloud Tasks emulator in .venv-tasks-emulator/ (it pins protobuf<5),
gcp-storage-emulator in the project's venv."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
FIRESTORE_DIR = ROOT / ".gcp-emulators"
TASKS_VENV = ROOT / ".venv-tasks-emulator"
PROJECT = "errand-local"
LOCATION = "us-central1"
BUCKET = "errand-blobs"
QUEUE = "errand-stages"
_SETUP = "run scripts/setup.sh (or scripts/setup.d/50-gcp.sh) from the project root"
_START_TIMEOUT_S = 30.0


@dataclass
class Emulator:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """SIGTERM to the emulator's own process group, SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    name: str, argv: list[str], port: int, logs: Path, env: dict[str, str] | None = None
) -> Emulator:
    """Starts `argv` in its own process group and waits until it accepts connections."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
        )
    emulator = Emulator(name, process, port, log)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(
                f"the {name} emulator exited with status {process.returncode} while starting; "
                f"see {log}:\n{log.read_text(errors='replace')[-2000:]}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return emulator
        time.sleep(0.05)
    emulator.stop()
    raise ConfigError(f"the {name} emulator did not listen on port {port} within 30 s; see {log}")


def start_storage(logs: Path) -> Emulator:
    port = free_port()
    argv = [sys.executable, "-m", "gcp_storage_emulator", "start", "--port", str(port)]
    argv += ["--host", "127.0.0.1", "--in-memory", "--default-bucket", BUCKET, "--quiet"]
    emulator = start("storage", argv, port, logs)
    emulator.env = {
        "STORAGE_EMULATOR_HOST": f"http://{emulator.host}",
        "ERRAND_GCS_BUCKET": BUCKET,
    }
    return emulator


def start_firestore(logs: Path) -> Emulator:
    if not (FIRESTORE_DIR / "node_modules" / "@firestore-emulator" / "server").is_dir():
        raise ConfigError(f"the Firestore emulator is not installed: {_SETUP}")
    port = free_port()
    script = (
        "const {FirestoreServer} = require('@firestore-emulator/server');"
        f"new FirestoreServer().start({port});"
    )
    argv = ["node", "-e", script]
    emulator = start(
        "firestore", argv, port, logs, {"NODE_PATH": str(FIRESTORE_DIR / "node_modules")}
    )
    emulator.env = {"FIRESTORE_EMULATOR_HOST": emulator.host}
    return emulator


def start_tasks(logs: Path, target_port: int) -> Emulator:
    program = TASKS_VENV / "bin" / "gcloud-tasks-emulator"
    if not program.exists():
        raise ConfigError(f"the Cloud Tasks emulator is not installed: {_SETUP}")
    port = free_port()
    queue = f"projects/{PROJECT}/locations/{LOCATION}/queues/{QUEUE}"
    argv = [str(program), "start", "--port", str(port), "--default-queue", queue]
    argv += ["--target-port", str(target_port), "--target-host", "127.0.0.1"]
    argv += ["--max-retries", "5"]  # it retries at once, without backoff: bound it
    emulator = start("tasks", argv, port, logs, {"PYTHONWARNINGS": "ignore"})
    emulator.env = {"CLOUD_TASKS_EMULATOR_HOST": emulator.host, "ERRAND_TASKS_QUEUE": QUEUE}
    return emulator


def start_standin(
    logs: Path,
    state: Path,
    env: dict[str, str] | None = None,
    jobs: dict[str, list[str]] | None = None,
    port: int = 0,
    fresh_disk: bool = False,
) -> Emulator:
    """The stand-in for KMS, Secret Manager, Text-to-Speech and Cloud Run Jobs. Its Cloud Run
    part starts job executions as local processes with `env` (the job's own settings); `jobs`
    adds Cloud Run jobs (name: command) besides errand-job, which runs the job entrypoint."""
    port = port or free_port()
    state.mkdir(parents=True, exist_ok=True)
    for name, content in (("job-env.json", env or {}), ("jobs.json", jobs or {})):
        # private: the job's environment may hold its settings' secrets
        fd = os.open(state / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(content, out)
    argv = [sys.executable, "-m", "shared.gcp_standin", "--port", str(port), "--state", str(state)]
    if fresh_disk:  # each execution starts on an empty ERRAND_HOME, as on Cloud Run
        argv.append("--fresh-disk")
    emulator = start("standin", argv, port, logs)
    emulator.env = {"ERRAND_GCP_API_ENDPOINT": f"http://{emulator.host}"}
    return emulator


def write_signing_key(
    path: Path, email: str = f"errand-local@{PROJECT}.iam.gserviceaccount.com"
) -> Path:
    """A freshly generated service-account key (JSON, as Google's console downloads it) that
    signs V4 blob URLs for the storage emulator. Never a real account: it exists only here."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": os.urandom(20).hex(),
        "private_key": pem,
        "client_email": email,
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(info, out)
    return path
