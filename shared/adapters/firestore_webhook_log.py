"""The WebhookLog port on Firestore.

Layout:
    github_deliveries/{delivery_id}          a delivery seen; deleted by a TTL policy at
                                             expires_at, 30 days on (GitHub redelivers only
                                             deliveries of the past 3 days)
    github_installations/{installation_id}   the installation (GitHubInstallation as JSON)
    github_links/{repository}:{number}:{task} repository (lower case), number, task_id,
                                             linked_at

claim_delivery is a create() with an exists=false precondition: of racing deliveries with one
id exactly one claims it, on the emulator as on the real service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.adapters.firestore_claims import create, doc_id
from shared.domain import GitHubInstallation, now
from shared.errors import ConfigError
from shared.gcp_settings import GcpSettings

KEEP = timedelta(days=30)


class FirestoreWebhookLog:
    """Implements `shared.ports.WebhookLog`. Repository names compare case-insensitively, as
    GitHub's do."""

    def __init__(self, settings: GcpSettings) -> None:
        if not settings.project:
            raise ConfigError("ERRAND_STORE=firestore needs the project: set ERRAND_GCP_PROJECT")
        from google.cloud import firestore

        self._fs = firestore
        self._db: Any = firestore.Client(
            project=settings.project, database=settings.firestore_database
        )

    def claim_delivery(self, delivery_id: str) -> bool:
        at = now()
        return create(self._delivery(delivery_id), {"received_at": at, "expires_at": at + KEEP})

    def release_delivery(self, delivery_id: str) -> None:
        self._delivery(delivery_id).delete()

    def save_installation(self, installation: GitHubInstallation) -> None:
        ref = self._db.collection("github_installations").document(str(installation.id))
        ref.set({"doc": installation.model_dump_json()})

    def installation(self, installation_id: int) -> GitHubInstallation | None:
        ref = self._db.collection("github_installations").document(str(installation_id))
        snapshot = ref.get()
        if not snapshot.exists:
            return None
        return GitHubInstallation.model_validate_json(snapshot.get("doc"))

    def link_task(self, repository: str, number: int, task_id: str) -> None:
        """Idempotent: a second link of the same task keeps its first time (and place)."""
        repo = repository.lower()
        ref = self._links().document(doc_id(repo, number, task_id))
        create(ref, {"repository": repo, "number": number, "task_id": task_id, "linked_at": now()})

    def linked_tasks(self, repository: str, number: int) -> list[str]:
        query = self._links().where(
            filter=self._fs.FieldFilter("repository", "==", repository.lower())
        )
        query = query.where(filter=self._fs.FieldFilter("number", "==", number))
        links = sorted(query.stream(), key=lambda s: s.get("linked_at"), reverse=True)
        return [str(s.get("task_id")) for s in links]

    def close(self) -> None:
        self._db.close()

    def _delivery(self, delivery_id: str) -> Any:
        return self._db.collection("github_deliveries").document(doc_id(delivery_id))

    def _links(self) -> Any:
        return self._db.collection("github_links")
