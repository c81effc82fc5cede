"""Google Cloud settings: which project, bucket, key, queue and job the cloud adapters use, and
where the emulators are. Parsed by `shared.settings` (the only reader of the environment)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from shared.domain import Model

# Which adapter each port uses; the first choice is the embedded default.
STORES = ("sqlite", "firestore")
QUEUES = ("local", "cloudtasks")
BLOB_STORES = ("fs", "gcs")
SECRET_STORES = ("local", "kms")


class GcpSettings(Model):
    project: str = ""
    location: str = "us-central1"
    # Cloud Storage
    bucket: str = ""
    storage_emulator_host: str = ""  # e.g. http://127.0.0.1:9023 (STORAGE_EMULATOR_HOST)
    # a service-account key that signs V4 URLs; without it, URLs are signed by the IAM
    # signBlob API as `service_account` (what runs on Cloud Run and Cloud Functions)
    signing_key_file: Path | None = None
    service_account: str = ""
    url_ttl_s: int = 7 * 24 * 3600  # the most a V4 signed URL allows
    # one endpoint for KMS, Secret Manager, Text-to-Speech and Cloud Run (REST): the local
    # stand-in server; empty = Google's own endpoints
    api_endpoint: str = ""
    kms_key: str = ""  # projects/P/locations/L/keyRings/R/cryptoKeys/K
    secret_prefix: str = "errand-"  # Secret Manager ids of app secrets: errand-<name>
    tts_voice: str = "en-US-Neural2-D"
    # Firestore
    firestore_emulator_host: str = ""  # host:port (FIRESTORE_EMULATOR_HOST)
    firestore_database: str = "(default)"
    # the change feed's shards (shared/adapters/firestore_feed.py, docs/capacity.md); only
    # `errand emulators` sets fewer: its emulator re-reads the whole feed on every write
    feed_shards: int = 1024
    # Cloud Tasks
    tasks_emulator_host: str = ""  # host:port of gcloud-tasks-emulator (gRPC, insecure)
    queue: str = "errand-stages"
    dispatch_url: str = ""  # the dispatch function's URL, the OIDC audience too
    invoker: str = ""  # the service account Cloud Tasks signs its OIDC tokens as
    # Cloud Scheduler's call of the sweep: its URL (the audience of its OIDC token) and the
    # service account it signs as (terraform/scheduler.tf)
    sweep_url: str = ""
    sweep_invoker: str = ""
    oidc_issuers: tuple[str, ...] = ("https://accounts.google.com", "accounts.google.com")
    oidc_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    # the metadata server a Cloud Run execution asks for its OIDC identity token
    metadata_host: str = "metadata.google.internal"
    # Cloud Logging: "json" when running in Google Cloud (Cloud Run and Cloud Functions set
    # K_SERVICE, Cloud Run Jobs set CLOUD_RUN_JOB), or with ERRAND_LOG_FORMAT=json
    log_format: str = "text"
    # Cloud Run Jobs
    job: str = "errand-job"
    job_timeout_s: int = 3600

    @property
    def location_path(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"


def gcp_from_env(e: Mapping[str, str]) -> GcpSettings:
    """Reads ERRAND_GCP_* and the emulator variables Google's own tools use."""
    key_file = e.get("ERRAND_GCP_SIGNING_KEY_FILE", "")
    issuers = e.get("ERRAND_OIDC_ISSUERS", "")
    defaults = GcpSettings()
    return GcpSettings(
        project=e.get("ERRAND_GCP_PROJECT") or e.get("GOOGLE_CLOUD_PROJECT", ""),
        location=e.get("ERRAND_GCP_LOCATION", defaults.location),
        bucket=e.get("ERRAND_GCS_BUCKET", ""),
        storage_emulator_host=e.get("STORAGE_EMULATOR_HOST", ""),
        signing_key_file=Path(key_file) if key_file else None,
        service_account=e.get("ERRAND_GCP_SERVICE_ACCOUNT", ""),
        url_ttl_s=_int(e, "ERRAND_GCS_URL_TTL_S", defaults.url_ttl_s),
        api_endpoint=e.get("ERRAND_GCP_API_ENDPOINT", "").rstrip("/"),
        kms_key=e.get("ERRAND_KMS_KEY", ""),
        secret_prefix=e.get("ERRAND_SECRET_PREFIX", defaults.secret_prefix),
        tts_voice=e.get("ERRAND_TTS_VOICE", defaults.tts_voice),
        firestore_emulator_host=e.get("FIRESTORE_EMULATOR_HOST", ""),
        firestore_database=e.get("ERRAND_FIRESTORE_DATABASE", defaults.firestore_database),
        feed_shards=_int(e, "ERRAND_FIRESTORE_FEED_SHARDS", defaults.feed_shards),
        tasks_emulator_host=e.get("CLOUD_TASKS_EMULATOR_HOST", ""),
        queue=e.get("ERRAND_TASKS_QUEUE", defaults.queue),
        dispatch_url=e.get("ERRAND_DISPATCH_URL", ""),
        invoker=e.get("ERRAND_TASKS_INVOKER", ""),
        sweep_url=e.get("ERRAND_SWEEP_URL", "") or _sibling(e.get("ERRAND_DISPATCH_URL", "")),
        sweep_invoker=e.get("ERRAND_SWEEP_INVOKER", ""),
        oidc_issuers=tuple(i for i in issuers.split(",") if i) or defaults.oidc_issuers,
        oidc_jwks_url=e.get("ERRAND_OIDC_JWKS_URL", defaults.oidc_jwks_url),
        # GCE_METADATA_HOST: the variable Google's own libraries honour
        metadata_host=e.get("GCE_METADATA_HOST", "") or defaults.metadata_host,
        log_format=_log_format(e),
        job=e.get("ERRAND_RUN_JOB", defaults.job),
        job_timeout_s=_int(e, "ERRAND_RUN_JOB_TIMEOUT_S", defaults.job_timeout_s),
    )


def _sibling(dispatch_url: str) -> str:
    """The sweep's URL beside dispatch's (both routes of the one dispatch service)."""
    suffix = "/api/dispatch"
    return dispatch_url[: -len(suffix)] + "/api/sweep" if dispatch_url.endswith(suffix) else ""


def _log_format(e: Mapping[str, str]) -> str:
    chosen = e.get("ERRAND_LOG_FORMAT", "").strip().lower()
    if chosen and chosen not in ("text", "json"):
        raise ValueError(f"ERRAND_LOG_FORMAT={chosen!r}: choose text or json")
    in_cloud = any(e.get(name) for name in ("K_SERVICE", "CLOUD_RUN_JOB", "FUNCTION_TARGET"))
    return chosen or ("json" if in_cloud else "text")


def _int(e: Mapping[str, str], name: str, default: int) -> int:
    raw = e.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw!r} must be a positive whole number")
    return int(raw)
