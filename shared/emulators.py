"""`errand emulators`: starts every emulator and stand-in the Google Cloud adapters need, prints
the environment that selects them (`export NAME=VALUE` lines, then `# ready`), and runs until
SIGTERM or SIGINT, stopping all it started.

    eval "$(errand emulators | sed '/^# ready$/q')"   # or: errand emulators > env.sh &
    errand up

With that environment, `errand up` and every task command run on the cloud adapters: Firestore,
Cloud Tasks (delivering to `errand up`'s dispatch route), Cloud Storage with signed URLs, KMS,
Text-to-Speech and Cloud Run Jobs (the stand-in runs each execution as a local process with
this command's environment, so start it with the same ERRAND_* settings as `errand up`, and on
a fresh, empty ERRAND_HOME of its own, as Cloud Run gives each execution a fresh disk)."""

from __future__ import annotations

import shlex
import signal
import sys
import threading
import time
from types import FrameType
from typing import TextIO

from shared import gcp_emulators, paths
from shared.gcp_emulators import LOCATION, PROJECT, Emulator
from shared.settings import Settings

_CHECK_S = 0.5


def cloud_env(settings: Settings) -> dict[str, str]:
    """The settings that select the cloud adapters, besides the emulators' own hosts."""
    return {
        "ERRAND_STORE": "firestore",
        "ERRAND_QUEUE": "cloudtasks",
        "ERRAND_BLOBS": "gcs",
        "ERRAND_SECRETS": "kms",
        "ERRAND_SPEECH": "google",
        "ERRAND_JOBS": "cloudrun",
        "ERRAND_GCP_PROJECT": PROJECT,
        "ERRAND_GCP_LOCATION": LOCATION,
        "ERRAND_KMS_KEY": f"projects/{PROJECT}/locations/{LOCATION}/keyRings/errand/cryptoKeys/"
        "credentials",
        "ERRAND_DISPATCH_URL": f"{settings.server_url}/api/dispatch",
        "ERRAND_TASKS_INVOKER": f"errand-tasks@{PROJECT}.iam.gserviceaccount.com",
        # The emulator matches each write against every listener by re-reading the whole
        # collection (measured: 14 ms a write at 32 shards, 500 ms at 1,024 — tests/bench/
        # bench_feed.py); Firestore delivers only the change. One listener group of 32 shards
        # keeps local runs fast; the layout and the code are the production ones.
        "ERRAND_FIRESTORE_FEED_SHARDS": "32",
    }


def run(settings: Settings, base_env: dict[str, str], out: TextIO = sys.stdout) -> int:
    """`base_env` is what the stand-in's job executions inherit (plus the exports)."""
    paths.ensure_home(settings.home)
    state = settings.home / "emulators"
    logs = state / "logs"
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    started: list[Emulator] = []
    try:
        started.append(gcp_emulators.start_storage(logs))
        started.append(gcp_emulators.start_firestore(logs))
        started.append(gcp_emulators.start_tasks(logs, target_port=settings.port))
        exports = {k: v for emulator in started for k, v in emulator.env.items()}
        key = gcp_emulators.write_signing_key(state / "signing-key.json")
        exports["ERRAND_GCP_SIGNING_KEY_FILE"] = str(key)
        exports.update(cloud_env(settings))
        port = gcp_emulators.free_port()  # executions need the stand-in's address too
        exports["ERRAND_GCP_API_ENDPOINT"] = f"http://127.0.0.1:{port}"
        job_env = {**base_env, **exports, "ERRAND_HOME": str(settings.home)}
        started.append(
            gcp_emulators.start_standin(
                logs, state / "standin", job_env, port=port, fresh_disk=True
            )
        )
        for name, value in exports.items():
            print(f"export {name}={shlex.quote(value)}", file=out)
        print("# ready", file=out, flush=True)
        while not stopping.wait(_CHECK_S):
            dead = [e for e in started if e.process.poll() is not None]
            if dead:
                names = ", ".join(f"{e.name} (see {e.log})" for e in dead)
                print(f"error: an emulator stopped: {names}", file=sys.stderr)
                return 1
        return 0
    finally:
        for emulator in reversed(started):
            emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_ready(stream: TextIO, timeout_s: float = 60.0) -> dict[str, str]:
    """Reads `errand emulators` output up to `# ready` into a mapping (for tests and tools)."""
    env: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    for line in stream:
        line = line.strip()
        if line == "# ready":
            return env
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0] if value else ""
        if time.monotonic() > deadline:
            break
    raise TimeoutError("errand emulators did not print '# ready'")
