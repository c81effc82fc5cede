"""How the REST-based Google clients (KMS, Secret Manager, Text-to-Speech, Cloud Run) are
built: against Google with the runtime's credentials, or against the local stand-in
(ERRAND_GCP_API_ENDPOINT) with anonymous credentials over the REST transport."""

from __future__ import annotations

from typing import Any

from shared.gcp_settings import GcpSettings


def client_kwargs(settings: GcpSettings) -> dict[str, Any]:
    if not settings.api_endpoint:
        return {}
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return {
        "transport": "rest",
        "client_options": ClientOptions(api_endpoint=settings.api_endpoint),
        "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
    }
