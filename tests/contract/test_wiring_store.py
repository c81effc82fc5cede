"""ERRAND_STORE picks every adapter that keeps state, together: the Firestore store brings the
Firestore accounts, credentials, ledger and webhook log (never a SQLite file beside them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.firestore_accounts import FirestoreAccounts
from shared.adapters.firestore_credentials import FirestoreCredentials
from shared.adapters.firestore_ledger import FirestoreLedger
from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.firestore_webhook_log import FirestoreWebhookLog
from shared.adapters.sqlite_accounts import SqliteAccounts
from shared.adapters.sqlite_credentials import SqliteCredentials
from shared.adapters.sqlite_store import SqliteStore
from shared.adapters.sqlite_webhook_log import SqliteWebhookLog
from shared.errors import ConfigError
from shared.gcp_settings import GcpSettings
from shared.settings import Settings
from shared.wiring import Deps


def _deps(home: Path, **env: str) -> Deps:
    return Deps(Settings.from_env({"ERRAND_HOME": str(home), **env}))


def test_firestore_store_brings_every_stateful_adapter(
    firestore_settings: GcpSettings, tmp_path: Path
) -> None:
    deps = _deps(
        tmp_path,
        ERRAND_STORE="firestore",
        ERRAND_GCP_PROJECT="wiring-test",
        FIRESTORE_EMULATOR_HOST=firestore_settings.firestore_emulator_host,
    )
    assert isinstance(deps.store, FirestoreStore)
    assert isinstance(deps.users, FirestoreAccounts) and deps.tokens is deps.sessions is deps.users
    assert isinstance(deps.credentials, FirestoreCredentials)
    assert isinstance(deps.ledger, FirestoreLedger)
    assert isinstance(deps.webhook_log, FirestoreWebhookLog)
    user = deps.users.ensure_local_user("alice")
    assert deps.users.get_user(user.id).admin
    assert not (tmp_path / "errand.db").exists()


def test_sqlite_store_keeps_them_in_its_file(tmp_path: Path) -> None:
    deps = _deps(tmp_path)
    assert isinstance(deps.store, SqliteStore)
    assert isinstance(deps.users, SqliteAccounts)
    assert isinstance(deps.credentials, SqliteCredentials) and deps.ledger is deps.credentials
    assert isinstance(deps.webhook_log, SqliteWebhookLog)


def test_firestore_without_a_project_says_what_to_set(tmp_path: Path) -> None:
    deps = _deps(tmp_path, ERRAND_STORE="firestore")
    for port in ("users", "credentials", "ledger", "webhook_log"):
        with pytest.raises(ConfigError, match="ERRAND_GCP_PROJECT"):
            getattr(deps, port)
