"""`python -m jobs.entrypoint '<StageRequest JSON>'`: one stage of one task, then exit.

This is what a Cloud Run Job execution runs and what the local job shim runs when no warm pool
is used."""

from __future__ import annotations

import sys

from jobs.runner import run_stage
from shared import cloud_logging
from shared.domain import StageRequest
from shared.settings import Settings
from shared.wiring import Deps


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m jobs.entrypoint '<stage request JSON>'", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    cloud_logging.configure(settings.gcp.log_format, settings.gcp.project)
    request = StageRequest.model_validate_json(args[0])
    with cloud_logging.labelled(task_id=request.task_id, stage=request.stage.value):
        return run_stage(Deps(settings), request)


if __name__ == "__main__":
    sys.exit(main())
