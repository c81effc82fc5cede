"""`python -m shared.gcp_standin --port N --state DIR`: serves until SIGTERM.

DIR/job-env.json holds the environment of job executions; DIR/jobs.json maps Cloud Run job
names to the command their container runs (default: errand-job runs the job entrypoint). The
metadata server's identity tokens are for --service-account, signed by a key served at
/oauth2/v3/certs."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from werkzeug.serving import make_server

from shared.gcp_standin.app import StandIn, create_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.gcp_standin")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state", type=Path, required=True, help="job env and execution logs")
    parser.add_argument(
        "--fresh-disk",
        action="store_true",
        help="each execution gets an empty ERRAND_HOME, as on Cloud Run",
    )
    parser.add_argument(
        "--service-account",
        default="errand-job@errand-local.iam.gserviceaccount.com",
        help="whom the metadata server's identity tokens are for (the job's account)",
    )
    args = parser.parse_args(argv)
    env_file, jobs_file = args.state / "job-env.json", args.state / "jobs.json"
    job_env = json.loads(env_file.read_text()) if env_file.exists() else {}
    jobs = json.loads(jobs_file.read_text()) if jobs_file.exists() else {}
    jobs.setdefault("errand-job", [sys.executable, "-m", "jobs.entrypoint"])
    standin = StandIn(
        jobs, job_env, args.state, fresh_disk=args.fresh_disk, service_account=args.service_account
    )
    server = make_server(args.host, args.port, create_app(standin), threaded=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        standin.run.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
