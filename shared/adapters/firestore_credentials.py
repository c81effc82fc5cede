"""The Credentials port on Firestore: credentials/{user_id}:{provider}, ciphertext only
(encryption is the Secrets port's job, in shared/keys.py)."""

from __future__ import annotations

from typing import Any

from shared.accounts import CredentialInfo, StoredCredential
from shared.adapters.firestore_claims import doc_id
from shared.domain import Model
from shared.errors import ConfigError, NotFound
from shared.gcp_settings import GcpSettings


class CredentialDoc(Model):
    user_id: str
    provider: str
    info: str  # CredentialInfo as JSON
    ciphertext: bytes

    def stored(self) -> StoredCredential:
        info = CredentialInfo.model_validate_json(self.info)
        return StoredCredential(info=info, ciphertext=self.ciphertext)


class FirestoreCredentials:
    """Implements `shared.ports.Credentials`."""

    def __init__(self, settings: GcpSettings) -> None:
        if not settings.project:
            raise ConfigError("ERRAND_STORE=firestore needs the project: set ERRAND_GCP_PROJECT")
        from google.cloud import firestore

        self._fs = firestore
        self._db: Any = firestore.Client(
            project=settings.project, database=settings.firestore_database
        )

    def put_credential(self, user_id: str, credential: StoredCredential) -> None:
        doc = CredentialDoc(
            user_id=user_id,
            provider=credential.info.provider,
            info=credential.info.model_dump_json(),
            ciphertext=credential.ciphertext,
        )
        self._ref(user_id, credential.info.provider).set(doc.model_dump())

    def get_credential(self, user_id: str, provider: str) -> StoredCredential:
        snapshot = self._ref(user_id, provider).get()
        if not snapshot.exists:
            raise NotFound(f"no key stored for provider {provider!r}")
        return CredentialDoc.model_validate(snapshot.to_dict()).stored()

    def list_credentials(self, user_id: str) -> list[CredentialInfo]:
        query = self._all().where(filter=self._fs.FieldFilter("user_id", "==", user_id))
        docs = sorted(
            (CredentialDoc.model_validate(s.to_dict()) for s in query.stream()),
            key=lambda d: d.provider,
        )
        return [d.stored().info for d in docs]

    def delete_credential(self, user_id: str, provider: str) -> None:
        ref = self._ref(user_id, provider)
        if not ref.get().exists:
            raise NotFound(f"no key stored for provider {provider!r}")
        ref.delete()

    def all_credentials(self) -> list[tuple[str, StoredCredential]]:
        docs = [CredentialDoc.model_validate(s.to_dict()) for s in self._all().stream()]
        docs.sort(key=lambda d: (d.user_id, d.provider))
        return [(d.user_id, d.stored()) for d in docs]

    def replace_ciphertext(self, user_id: str, provider: str, old: bytes, new: bytes) -> bool:
        """Compare-and-set with an update-time precondition: the real service refuses the write
        when the credential changed after it was read (a user replacing the key during a
        rotation). The emulator ignores update-time preconditions, so there only the
        sequential comparison is tested."""
        from google.api_core import exceptions

        ref = self._ref(user_id, provider)
        snapshot = ref.get()
        if not snapshot.exists or snapshot.get("ciphertext") != old:
            return False
        option = self._db.write_option(last_update_time=snapshot.update_time)
        try:
            ref.update({"ciphertext": new}, option=option)
        except (exceptions.FailedPrecondition, exceptions.NotFound):
            return False
        return True

    def close(self) -> None:
        self._db.close()

    def _all(self) -> Any:
        return self._db.collection("credentials")

    def _ref(self, user_id: str, provider: str) -> Any:
        return self._all().document(doc_id(user_id, provider))
