"""The GitHub half of the wiring (the App's Forge and feedback, its tokens — from the App's key
or, in a cloud stage execution, from the token broker — and the webhook log), mixed into
`shared.wiring.Deps`."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from shared import paths
from shared.domain import StageRequest
from shared.ports import ForgeFeedback, Secrets, WebhookLog
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.adapters.brokered_tokens import BrokeredTokens
    from shared.adapters.github_app import AppAuth
    from shared.adapters.github_forge import GitHubForge
    from shared.github.config import AppConfig
    from shared.token_broker import TokenBroker
    from shared.wiring import Deps


class GitHubPorts:
    settings: Settings
    stage: StageRequest | None

    if TYPE_CHECKING:  # provided by Deps

        @property
        def secrets(self) -> Secrets: ...

    @cached_property
    def github_app(self) -> AppConfig:
        from shared.github.config import load

        return load(self.settings, self.secrets)

    @cached_property
    def github(self) -> GitHubForge:
        """The GitHub App's Forge and ForgeFeedback; ConfigError when no App is set up. With
        ERRAND_GITHUB_TOKENS=broker (a cloud stage execution) its tokens come from the token
        broker instead of the App's key."""
        from shared.adapters.github_forge import GitHubForge

        if self.settings.github.tokens == "broker":
            return GitHubForge(self.brokered_tokens)
        return GitHubForge(self.app_auth)

    @cached_property
    def brokered_tokens(self) -> BrokeredTokens:
        from shared.gcp_wiring import brokered_tokens

        return brokered_tokens(self.settings, lambda: self.stage)

    def end_stage(self) -> None:
        """The stage is over: a brokered GitHub token is revoked rather than left to expire."""
        if "brokered_tokens" in self.__dict__:  # built only if the stage asked for one
            self.brokered_tokens.revoke()

    @cached_property
    def app_auth(self) -> AppAuth:
        from shared.adapters.github_app import AppAuth

        app = self.github_app
        return AppAuth(
            app.app_id, app.private_key.get_secret_value(), app.api_url, web_url=app.web_url
        )

    @cached_property
    def token_broker(self) -> TokenBroker:
        """Hands stage executions their GitHub tokens (NotFound where it is not configured)."""
        from shared.gcp_wiring import token_broker

        return token_broker(self._deps)

    @property
    def feedback(self) -> ForgeFeedback:
        return self.github

    @cached_property
    def webhook_log(self) -> WebhookLog:
        if self.settings.store == "firestore":
            from shared.adapters.firestore_webhook_log import FirestoreWebhookLog

            return FirestoreWebhookLog(self.settings.gcp)
        from shared.adapters.sqlite_webhook_log import SqliteWebhookLog

        paths.ensure_home(self.settings.home)
        return SqliteWebhookLog(paths.db(self.settings.home))

    @property
    def _deps(self) -> Deps:
        from shared.wiring import Deps

        assert isinstance(self, Deps)
        return self
