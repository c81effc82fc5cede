"""Contract suite for the WebhookLog port (SqliteWebhookLog; FirestoreWebhookLog on
@firestore-emulator/server, each test in a project of its own). The dedupe race runs on both:
Firestore's claim is a create() with an exists=false precondition, which the emulator enforces."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.adapters.firestore_webhook_log import FirestoreWebhookLog
from shared.adapters.sqlite_webhook_log import SqliteWebhookLog
from shared.domain import GitHubInstallation
from shared.gcp_settings import GcpSettings
from shared.ports import WebhookLog

AnyLog = SqliteWebhookLog | FirestoreWebhookLog


def _conforms(a: SqliteWebhookLog, b: FirestoreWebhookLog) -> list[WebhookLog]:
    return [a, b]  # mypy checks that they implement the port


@pytest.fixture(params=["sqlite", "firestore"])
def logs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], AnyLog]]:
    """Makes logs on one database, as separate processes would have."""
    made: list[AnyLog] = []
    if request.param == "firestore":
        base: GcpSettings = request.getfixturevalue("firestore_settings")
        s = base.model_copy(update={"project": f"t-{secrets.token_hex(4)}"})

        def make() -> AnyLog:
            made.append(FirestoreWebhookLog(s))
            return made[-1]
    else:

        def make() -> AnyLog:
            made.append(SqliteWebhookLog(tmp_path / "errand.db"))
            return made[-1]

    yield make
    for log in made:
        log.close()


def test_a_delivery_is_claimed_once_until_released(logs: Callable[[], AnyLog]) -> None:
    log = logs()
    assert log.claim_delivery("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert not log.claim_delivery("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert logs().claim_delivery("other/with/slashes")
    assert not log.claim_delivery("other/with/slashes")
    log.release_delivery("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert log.claim_delivery("72d3162e-cc78-11e3-81ab-4c9367dc0958")  # a failed handling
    log.release_delivery("never-seen")  # nothing to forget


def test_racing_redeliveries_have_exactly_one_claimer(logs: Callable[[], AnyLog]) -> None:
    own = [logs() for _ in range(20)]
    barrier = threading.Barrier(20)
    claimed: list[int] = []

    def claim(i: int) -> None:
        barrier.wait()
        if own[i].claim_delivery("d-race"):
            claimed.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 1


def test_installations_are_saved_and_replaced(logs: Callable[[], AnyLog]) -> None:
    log = logs()
    assert log.installation(77) is None
    log.save_installation(GitHubInstallation(id=77, account="octo-org", repositories=["o/a"]))
    log.save_installation(GitHubInstallation(id=77, account="octo-org", repositories=["o/b"]))
    got = log.installation(77)
    assert got is not None and got.repositories == ["o/b"]


def test_links_newest_first_case_insensitively(logs: Callable[[], AnyLog]) -> None:
    log = logs()
    log.link_task("Octo-Org/Calc", 2, "t_1")
    log.link_task("octo-org/calc", 2, "t_2")
    log.link_task("octo-org/calc", 2, "t_1")  # again: keeps its place
    log.link_task("octo-org/calc", 3, "t_3")
    log.link_task("octo-org/web", 2, "t_4")
    assert log.linked_tasks("OCTO-ORG/calc", 2) == ["t_2", "t_1"]
    assert log.linked_tasks("octo-org/calc", 3) == ["t_3"]
    assert log.linked_tasks("octo-org/calc", 4) == []
