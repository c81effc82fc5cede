"""The Jobs port on Cloud Run Jobs: the real client over REST against the stand-in, whose
Cloud Run part runs each execution as a local process (errand-job: the job entrypoint).

What the stand-in cannot prove: IAM (run.jobs.runWithOverrides), the image itself starting on
Cloud Run, retries of failed tasks (the job's maxRetries, set by terraform)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.cloudrun_jobs import CloudRunJobs
from shared.adapters.gcp_clients import client_kwargs
from shared.domain import Stage, StageRequest
from shared.errors import ConfigError, NotFound
from shared.gcp_settings import GcpSettings
from shared.ports import Jobs
from tests.contract.conftest import standin_state

REQUEST = StageRequest(task_id="t_cloudrun", stage=Stage.PLAN, round=1)


def _conforms(a: CloudRunJobs) -> Jobs:
    return a  # mypy checks that it implements the port


@pytest.fixture
def settings(standin_settings: GcpSettings) -> GcpSettings:
    return standin_settings.model_copy(update={"job_timeout_s": 60})


def _finished(settings: GcpSettings, name: str, timeout_s: float = 30) -> Any:
    from google.cloud import run_v2

    client = run_v2.ExecutionsClient(**client_kwargs(settings))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        execution = client.get_execution(name=name)
        if execution.completion_time:
            return execution
        time.sleep(0.05)
    raise AssertionError(f"{name} did not finish in {timeout_s} s")


def _log(gcp_logs: Path, execution: str) -> str:
    return (
        standin_state(gcp_logs) / "executions" / f"{execution.rsplit('/', 1)[1]}.log"
    ).read_text()


def test_the_job_entrypoint_runs_the_stage_request(settings: GcpSettings, gcp_logs: Path) -> None:
    jobs = CloudRunJobs(settings)
    name = jobs.run(REQUEST)
    assert name.startswith(f"{jobs.job_name}/executions/errand-job-")
    execution = _finished(settings, name)
    assert (execution.succeeded_count, execution.failed_count) == (1, 0)
    assert "task t_cloudrun does not exist; dropping plan" in _log(gcp_logs, name)


def test_overrides_carry_the_request_and_the_task(
    settings: GcpSettings, gcp_logs: Path, standin_home: Path
) -> None:
    jobs = CloudRunJobs(settings.model_copy(update={"job": "recorder"}))
    name = jobs.run(REQUEST)
    assert _finished(settings, name).succeeded_count == 1
    argument, env = _log(gcp_logs, name).splitlines()
    assert StageRequest.model_validate_json(argument) == REQUEST
    assert env == f"t_cloudrun plan {standin_home}"


def test_a_failing_execution_is_reported_failed(settings: GcpSettings) -> None:
    name = CloudRunJobs(settings.model_copy(update={"job": "failing"})).run(REQUEST)
    execution = _finished(settings, name)
    assert execution.failed_count == 1
    assert "exit code 3" in execution.conditions[0].message


def test_the_timeout_stops_the_execution(settings: GcpSettings) -> None:
    jobs = CloudRunJobs(settings.model_copy(update={"job": "sleeper", "job_timeout_s": 1}))
    started = time.monotonic()
    execution = _finished(settings, jobs.run(REQUEST))
    assert time.monotonic() - started < 10
    assert execution.failed_count == 1
    assert "exceeded its timeout of 1s" in execution.conditions[0].message


def test_cancel_stops_a_running_execution(settings: GcpSettings) -> None:
    jobs = CloudRunJobs(settings.model_copy(update={"job": "sleeper"}))
    name = jobs.run(REQUEST)
    assert jobs.gone(name) is False  # it runs
    jobs.cancel(name)
    execution = _finished(settings, name, timeout_s=15)
    assert jobs.gone(name) is True
    assert (execution.cancelled_count, execution.succeeded_count) == (1, 0)
    jobs.cancel(name)  # already ended: nothing to do
    nobody = name.rsplit("/", 1)[0] + "/errand-job-nobody"
    with pytest.raises(NotFound):
        jobs.cancel(nobody)
    assert jobs.gone(nobody) is True
    down = CloudRunJobs(settings.model_copy(update={"api_endpoint": "http://127.0.0.1:9"}))
    assert down.gone(name) is False  # cannot tell: the lease decides


def test_a_missing_job_names_the_fix(settings: GcpSettings) -> None:
    with pytest.raises(ConfigError, match="errand-nope does not exist: deploy it"):
        CloudRunJobs(settings.model_copy(update={"job": "errand-nope"})).run(REQUEST)
    with pytest.raises(ConfigError, match="ERRAND_GCP_PROJECT"):
        CloudRunJobs(GcpSettings())
