"""The Google Cloud parts of the wiring that need more than a constructor call (kept apart so
shared/wiring.py stays one screen per port)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from shared.domain import StageRequest
from shared.errors import ConfigError, NotFound
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.adapters.brokered_tokens import BrokeredTokens
    from shared.adapters.cloudtasks_queue import CloudTasksQueue
    from shared.oidc import OidcVerifier
    from shared.token_broker import TokenBroker
    from shared.wiring import Deps


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


def token_broker(deps: Deps) -> TokenBroker:
    """The functions' side of brokered GitHub tokens: only the stage executions' account, for
    the broker's URL as audience."""
    from shared.oidc import OidcVerifier
    from shared.token_broker import TokenBroker

    gh, gcp = deps.settings.github, deps.settings.gcp
    if not (gh.token_broker_url and gh.job_service_account):
        raise NotFound(
            "this server hands out no GitHub tokens: set ERRAND_GITHUB_TOKEN_BROKER_URL and "
            "ERRAND_JOB_SERVICE_ACCOUNT (terraform does, on the api service)"
        )
    verifier = OidcVerifier(
        gh.token_broker_url,
        gcp.oidc_issuers,
        gh.job_service_account,
        gcp.oidc_jwks_url,
        caller="the stage executions' service account",
    )
    return TokenBroker(verifier, deps.store, deps.leases, deps.app_auth)


def brokered_tokens(settings: Settings, stage: Callable[[], StageRequest | None]) -> BrokeredTokens:
    """The execution's side: its tokens from the broker, asked with its metadata identity."""
    from shared.adapters.brokered_tokens import BrokeredTokens, metadata_identity

    gh = settings.github
    identity = metadata_identity(settings.gcp.metadata_host)
    return BrokeredTokens(
        gh.token_broker_url, identity, stage, api_url=gh.api_url, web_url=gh.web_url
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
