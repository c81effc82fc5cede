"""The Google Cloud parts of the wiring that need more than a constructor call (kept apart so
shared/wiring.py stays one screen per port)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shared.errors import ConfigError
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.adapters.cloudtasks_queue import CloudTasksQueue
    from shared.oidc import OidcVerifier


def cloud_tasks_queue(settings: Settings, dispatch_token: str) -> CloudTasksQueue:
    """Against the emulator, which mints no OIDC token, tasks carry the local server's token:
    the one this process was given (`errand up`) or the one `errand up` wrote for its home
    (job processes enqueueing the next stage)."""
    from shared.adapters.cloudtasks_queue import CloudTasksQueue

    gcp = settings.gcp
    token = ""
    if gcp.tasks_emulator_host:
        token = dispatch_token or _local_server_token(settings.home)
    return CloudTasksQueue(gcp, emulator_authorization=token)


def dispatch_verifier(settings: Settings) -> OidcVerifier:
    """`/api/dispatch` admits only the queue's invoker, for dispatch's URL as audience."""
    from shared.oidc import OidcVerifier

    gcp = settings.gcp
    return OidcVerifier(gcp.dispatch_url, gcp.oidc_issuers, gcp.invoker, gcp.oidc_jwks_url)


def sweep_verifier(settings: Settings) -> OidcVerifier:
    """`/api/sweep` admits only Cloud Scheduler's account, for the sweep's URL as audience: a
    queue token is refused here and a scheduler token on dispatch. Unconfigured, the sweep
    refuses everything (ConfigError) rather than admitting anyone."""
    from shared.oidc import OidcVerifier

    gcp = settings.gcp
    return OidcVerifier(
        gcp.sweep_url,
        gcp.oidc_issuers,
        gcp.sweep_invoker,
        gcp.oidc_jwks_url,
        caller="the scheduler's invoker service account",
        needs="ERRAND_SWEEP_URL (the audience; by default beside ERRAND_DISPATCH_URL) and "
        "ERRAND_SWEEP_INVOKER (the service account Cloud Scheduler signs as)",
    )


def _local_server_token(home: Path) -> str:
    from shared.stack import read_server_file

    info = read_server_file(home)
    if info is None:
        raise ConfigError(
            f"no `errand up` is serving {home}: with the Cloud Tasks emulator, stages are "
            "delivered to it; start it with the environment `errand emulators` printed"
        )
    return info.token
