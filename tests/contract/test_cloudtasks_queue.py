"""The Queue port on Cloud Tasks: the real client over gRPC against gcloud-tasks-emulator,
delivering to a local HTTP target in the place of the dispatch function.

What the emulator cannot prove: dedupe (it accepts a second task of the same name, where the
service answers ALREADY_EXISTS, which the adapter reports as False), OIDC tokens (it mints
none: the tasks are checked to ask for one, and the verifier is tested with locally signed
tokens in tests/unit/test_oidc.py), backoff (it retries at once; the real queue's retry
config comes from terraform)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.adapters.cloudtasks_queue import CloudTasksQueue, task_id_for
from shared.domain import Stage, StageRequest
from shared.errors import ConfigError
from shared.gcp_emulators import LOCATION, PROJECT, Emulator
from shared.gcp_settings import GcpSettings
from shared.ports import Queue
from tests.support.http_target import Target, http_target

REQUEST = StageRequest(task_id="t_q1", stage=Stage.PREPARE)


def _conforms(a: CloudTasksQueue) -> Queue:
    return a  # mypy checks that it implements the port


@pytest.fixture
def target() -> Iterator[Target]:
    with http_target() as t:
        yield t


@pytest.fixture
def admin(tasks_emulator: Emulator) -> Any:
    import grpc
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    channel = grpc.insecure_channel(tasks_emulator.host)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


@pytest.fixture
def settings(tasks_emulator: Emulator, target: Target, admin: Any) -> GcpSettings:
    """A queue of its own per test."""
    queue = f"q-{secrets.token_hex(4)}"
    parent = f"projects/{PROJECT}/locations/{LOCATION}"
    admin.create_queue(parent=parent, queue={"name": f"{parent}/queues/{queue}"})
    return GcpSettings(
        project=PROJECT,
        location=LOCATION,
        tasks_emulator_host=tasks_emulator.host,
        queue=queue,
        dispatch_url=target.url,
        invoker=f"errand-tasks@{PROJECT}.iam.gserviceaccount.com",
    )


def test_delivers_the_request_as_json_to_dispatch(settings: GcpSettings, target: Target) -> None:
    queue = CloudTasksQueue(settings, emulator_authorization="local-token")
    enqueued = time.time()
    assert queue.enqueue(REQUEST) is True
    [got] = target.wait_for(1)
    print(f"\nCloud Tasks emulator: enqueue → delivery {1000 * (got.at - enqueued):.0f} ms")
    assert got.path == "/api/dispatch"
    assert StageRequest.model_validate_json(got.body) == REQUEST
    assert got.headers["content-type"] == "application/json"
    assert got.headers["authorization"] == "Bearer local-token"


def test_a_failed_delivery_is_retried(settings: GcpSettings, target: Target) -> None:
    target.answer = lambda got, n: 503 if n == 1 else 200
    CloudTasksQueue(settings, emulator_authorization="t").enqueue(REQUEST)
    assert len(target.wait_for(2)) == 2
    time.sleep(0.3)
    assert len(target.received) == 2  # delivered: no more attempts


def test_delay_is_honoured(settings: GcpSettings, target: Target) -> None:
    enqueued = time.time()
    CloudTasksQueue(settings, emulator_authorization="t").enqueue(REQUEST, delay_s=1.0)
    [got] = target.wait_for(1, timeout_s=15)
    assert got.at - enqueued >= 1.0


def test_tasks_are_named_for_dedupe_and_ask_for_an_oidc_token(
    settings: GcpSettings, admin: Any
) -> None:
    queue = CloudTasksQueue(settings)  # as in the cloud: no bearer, an OIDC token instead
    queue.enqueue(REQUEST, delay_s=600)
    queue.enqueue(REQUEST.model_copy(update={"round": 1}), delay_s=600)
    tasks = {t.name.rsplit("/", 1)[1]: t for t in admin.list_tasks(parent=queue.queue_path)}
    assert set(tasks) == {
        task_id_for(REQUEST),
        task_id_for(REQUEST.model_copy(update={"round": 1})),
    }
    assert task_id_for(REQUEST).endswith("-t_q1-prepare-0")
    oidc = tasks[task_id_for(REQUEST)].http_request.oidc_token
    assert oidc.service_account_email == settings.invoker
    assert oidc.audience == settings.dispatch_url
    assert "Authorization" not in tasks[task_id_for(REQUEST)].http_request.headers
    admin.purge_queue(name=queue.queue_path)


def test_settings_are_checked(settings: GcpSettings) -> None:
    with pytest.raises(ConfigError, match="ERRAND_DISPATCH_URL"):
        CloudTasksQueue(settings.model_copy(update={"dispatch_url": ""}))
    cloud = settings.model_copy(update={"tasks_emulator_host": "", "invoker": ""})
    with pytest.raises(ConfigError, match="ERRAND_TASKS_INVOKER"):
        CloudTasksQueue(cloud)
    with pytest.raises(ConfigError, match="only for the Cloud Tasks emulator"):
        CloudTasksQueue(cloud.model_copy(update={"invoker": "a@b"}), emulator_authorization="x")


def test_a_missing_queue_names_the_fix(settings: GcpSettings) -> None:
    queue = CloudTasksQueue(settings.model_copy(update={"queue": "nope"}))
    with pytest.raises(ConfigError, match="does not exist"):
        queue.enqueue(REQUEST)
