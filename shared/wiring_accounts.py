"""The accounts half of the wiring (users, tokens, sessions, credentials, the ledger, the
authenticator and the task service acting for a user), mixed into `shared.wiring.Deps`."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from shared import paths
from shared.ports import (
    Blobs,
    Credentials,
    GitHubAccount,
    Ledger,
    Queue,
    Secrets,
    Sessions,
    Store,
    Tokens,
    Users,
)
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.accounts import User
    from shared.adapters.firestore_accounts import FirestoreAccounts
    from shared.adapters.sqlite_accounts import SqliteAccounts
    from shared.adapters.sqlite_credentials import SqliteCredentials
    from shared.auth import Authenticator
    from shared.keys import KeyService
    from shared.services import TaskService
    from shared.wiring import Deps


class AccountPorts:
    settings: Settings

    if TYPE_CHECKING:  # provided by Deps

        @property
        def store(self) -> Store: ...

        @property
        def queue(self) -> Queue: ...

        @property
        def secrets(self) -> Secrets: ...

        @property
        def blobs(self) -> Blobs: ...

    @cached_property
    def accounts(self) -> SqliteAccounts | FirestoreAccounts:
        """Users, tokens and sessions: in Firestore with the Firestore store, else in the
        SQLite file beside the tasks."""
        if self.settings.store == "firestore":
            from shared.adapters.firestore_accounts import FirestoreAccounts

            return FirestoreAccounts(self.settings.gcp)
        from shared.adapters.sqlite_accounts import SqliteAccounts

        paths.ensure_home(self.settings.home)
        return SqliteAccounts(paths.db(self.settings.home))

    @property
    def users(self) -> Users:
        return self.accounts

    @property
    def tokens(self) -> Tokens:
        return self.accounts

    @property
    def sessions(self) -> Sessions:
        return self.accounts

    @cached_property
    def _sqlite_credentials(self) -> SqliteCredentials:
        from shared.adapters.sqlite_credentials import SqliteCredentials

        _ = self.store  # the ledger's usage report reads the tasks table
        return SqliteCredentials(paths.db(self.settings.home))

    @cached_property
    def credentials(self) -> Credentials:
        if self.settings.store == "firestore":
            from shared.adapters.firestore_credentials import FirestoreCredentials

            return FirestoreCredentials(self.settings.gcp)
        return self._sqlite_credentials

    @cached_property
    def ledger(self) -> Ledger:
        if self.settings.store == "firestore":
            from shared.adapters.firestore_ledger import FirestoreLedger

            return FirestoreLedger(self.settings.gcp)
        return self._sqlite_credentials

    @cached_property
    def keys(self) -> KeyService:
        from shared.adapters.model_catalog import known_providers
        from shared.keys import KeyService

        multi = self.settings.multi_user
        return KeyService(self.credentials, self.secrets, known_providers, not multi)

    @cached_property
    def signing_key(self) -> bytes:
        from shared.account_wiring import signing_key

        return signing_key(self.settings)

    @cached_property
    def github_oauth(self) -> GitHubAccount:
        from shared.adapters.github_oauth import GitHubOAuthClient

        g = self.settings.oauth
        return GitHubOAuthClient(
            g.web_url, g.api_url, g.client_id, g.client_secret.get_secret_value()
        )

    @cached_property
    def auth(self) -> Authenticator:
        from shared.account_wiring import authenticator

        return authenticator(self._deps)

    def task_service(self, actor: User | None = None) -> TaskService:
        """Task use cases acting as `actor` (None: trusted internal callers, e.g. stages),
        with the operator's quotas and the owner's keys."""
        from shared.account_wiring import key_policy
        from shared.services import TaskService

        s = self.settings
        return TaskService(
            self.store,
            self.queue,
            s.model,
            blobs=self.blobs,
            actor=actor,
            quotas=s.quotas,
            key_policy=key_policy(self._deps),
        )

    @property
    def _deps(self) -> Deps:
        from shared.wiring import Deps

        assert isinstance(self, Deps)
        return self
