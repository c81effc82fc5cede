from __future__ import annotations

import pytest

from shared.errors import ConfigError
from shared.settings import Settings


def test_defaults_and_overrides() -> None:
    s = Settings.from_env(
        {"ERRAND_HOME": "/tmp/h", "ERRAND_MAX_STEPS": "7", "ERRAND_MODEL_PRICE": "1,2"}
    )
    assert s.budgets.max_steps == 7 and s.model_price == (1.0, 2.0) and s.port == 8080
    assert s.model_api_key.get_secret_value() == ""


@pytest.mark.parametrize(
    ("env", "phrase"),
    [
        ({"ERRAND_PORT": "abc"}, "ERRAND_PORT='abc' is not a whole number"),
        ({"ERRAND_MAX_STEPS": "-3"}, "ERRAND_MAX_STEPS=-3 is below the minimum of 1"),
        ({"ERRAND_FIX_ROUNDS": "-1"}, "ERRAND_FIX_ROUNDS=-1"),
        ({"ERRAND_MAX_COST_USD": "0"}, "must be greater than 0"),
        ({"ERRAND_JOBS": "k8s"}, "choose one of pool, process, container"),
        ({"ERRAND_MODEL_PRICE": "3"}, "expected 'input,output'"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], phrase: str) -> None:
    with pytest.raises(ConfigError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({"ERRAND_HOME": "/tmp/h", **env})


def test_the_api_key_is_never_shown() -> None:
    s = Settings.from_env({"ERRAND_HOME": "/tmp/h", "ERRAND_MODEL_API_KEY": "sk-canary-123456"})
    assert "sk-canary" not in repr(s) and "sk-canary" not in s.model_dump_json()


def test_cloud_adapters_and_their_settings() -> None:
    s = Settings.from_env(
        {
            "ERRAND_HOME": "/tmp/h",
            "ERRAND_STORE": "firestore",
            "ERRAND_QUEUE": "cloudtasks",
            "ERRAND_BLOBS": "gcs",
            "ERRAND_SECRETS": "kms",
            "ERRAND_JOBS": "cloudrun",
            "GOOGLE_CLOUD_PROJECT": "p1",
            "ERRAND_GCS_BUCKET": "b1",
            "FIRESTORE_EMULATOR_HOST": "127.0.0.1:1",
            "ERRAND_OIDC_ISSUERS": "https://accounts.google.com",
            "CLOUD_RUN_JOB": "errand-job",
        }
    )
    assert (s.store, s.queue, s.blobs, s.secrets, s.jobs) == (
        "firestore",
        "cloudtasks",
        "gcs",
        "kms",
        "cloudrun",
    )
    g = s.gcp
    assert (g.project, g.bucket, g.firestore_emulator_host) == ("p1", "b1", "127.0.0.1:1")
    assert g.oidc_issuers == ("https://accounts.google.com",)
    assert g.log_format == "json"  # running as a Cloud Run job
    assert g.location_path == "projects/p1/locations/us-central1"
    local = Settings.from_env({"ERRAND_HOME": "/tmp/h"})
    assert (local.store, local.queue, local.gcp.log_format) == ("sqlite", "local", "text")


@pytest.mark.parametrize(
    ("env", "phrase"),
    [
        ({"ERRAND_STORE": "postgres"}, "ERRAND_STORE='postgres': choose one of sqlite, firestore"),
        ({"ERRAND_QUEUE": "sqs"}, "choose one of local, cloudtasks"),
        ({"ERRAND_BLOBS": "s3"}, "choose one of fs, gcs"),
        ({"ERRAND_SECRETS": "vault"}, "choose one of local, kms"),
        ({"ERRAND_GCS_URL_TTL_S": "0"}, "ERRAND_GCS_URL_TTL_S='0' must be a positive"),
        ({"ERRAND_LOG_FORMAT": "xml"}, "choose text or json"),
    ],
)
def test_bad_cloud_settings_name_the_variable(env: dict[str, str], phrase: str) -> None:
    with pytest.raises(ConfigError, match=phrase):
        Settings.from_env({"ERRAND_HOME": "/tmp/h", **env})
