"""App secrets from Secret Manager, against the stand-in (the real client over REST): values
are read from the latest version, rotation shows after the cache time, absence is NotFound."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.adapters.gcp_clients import client_kwargs
from shared.adapters.secret_manager import SecretManagerAppSecrets
from shared.errors import ConfigError, InvalidInput, NotFound
from shared.gcp_settings import GcpSettings
from shared.ports import AppSecrets


def _conforms(a: SecretManagerAppSecrets) -> AppSecrets:
    return a  # mypy checks that it implements the port


@pytest.fixture(scope="module")
def admin(standin_settings: GcpSettings) -> Any:
    """What an operator (or terraform) does: creates secrets and adds versions."""
    from google.cloud import secretmanager

    return secretmanager.SecretManagerServiceClient(**client_kwargs(standin_settings))


def _add(admin: Any, settings: GcpSettings, name: str, value: bytes, create: bool) -> None:
    parent = f"projects/{settings.project}"
    secret_id = f"{settings.secret_prefix}{name}"
    if create:
        admin.create_secret(
            request={
                "parent": parent,
                "secret_id": secret_id,
                "secret": {"replication": {"automatic": {}}},
            }
        )
    admin.add_secret_version(
        request={"parent": f"{parent}/secrets/{secret_id}", "payload": {"data": value}}
    )


def test_latest_version_and_rotation(admin: Any, standin_settings: GcpSettings) -> None:
    _add(admin, standin_settings, "github-webhook-secret", b"first", create=True)
    secrets = SecretManagerAppSecrets(standin_settings, ttl_s=0.2)
    assert secrets.get("github-webhook-secret") == "first"
    _add(admin, standin_settings, "github-webhook-secret", b"second", create=False)
    assert secrets.get("github-webhook-secret") == "first"  # cached
    time.sleep(0.25)
    assert secrets.get("github-webhook-secret") == "second"


def test_missing_secret_is_not_found_with_the_fix(standin_settings: GcpSettings) -> None:
    with pytest.raises(NotFound, match="gcloud secrets create errand-github-app-key"):
        SecretManagerAppSecrets(standin_settings).get("github-app-key")


def test_bad_names_and_settings_are_refused(standin_settings: GcpSettings) -> None:
    with pytest.raises(InvalidInput):
        SecretManagerAppSecrets(standin_settings).get("../other")
    with pytest.raises(ConfigError, match="ERRAND_GCP_PROJECT"):
        SecretManagerAppSecrets(GcpSettings())
