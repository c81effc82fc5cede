"""The GitHub App's configuration: the environment (ERRAND_GITHUB_*) first, then what
`errand github setup` stored in ERRAND_HOME, its secrets encrypted through the Secrets port."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from pydantic import SecretStr, ValidationError

from shared import paths
from shared.domain import Model
from shared.errors import ConfigError
from shared.ports import Secrets
from shared.settings import Settings

CONTEXT = "github-app"
SETUP_HINT = "run `errand github setup` (or set ERRAND_GITHUB_APP_ID and ERRAND_GITHUB_PRIVATE_KEY)"


class AppConfig(Model):
    app_id: int = 0
    slug: str = ""
    private_key: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    api_url: str = "https://api.github.com"
    web_url: str = "https://github.com"

    @property
    def can_authenticate(self) -> bool:
        return bool(self.app_id and self.private_key.get_secret_value())


class _Stored(Model):
    app_id: int
    slug: str = ""
    api_url: str
    web_url: str
    private_key: str  # base64 of the Secrets ciphertext
    webhook_secret: str


def save(
    home: Path,
    secrets: Secrets,
    *,
    app_id: int,
    private_key: str,
    webhook_secret: str,
    slug: str = "",
    api_url: str = "https://api.github.com",
    web_url: str = "https://github.com",
) -> Path:
    def seal(text: str) -> str:
        return base64.b64encode(secrets.encrypt(text.encode(), CONTEXT)).decode()

    stored = _Stored(
        app_id=app_id,
        slug=slug,
        api_url=api_url.rstrip("/"),
        web_url=web_url.rstrip("/"),
        private_key=seal(private_key),
        webhook_secret=seal(webhook_secret),
    )
    target = paths.github_app(home)
    paths.ensure_home(home)
    target.parent.mkdir(mode=0o700, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(stored.model_dump_json(indent=2))
    tmp.replace(target)
    return target


def load(settings: Settings, secrets: Secrets) -> AppConfig:
    """The configuration with every source merged; fields nobody set stay empty."""
    gh = settings.github
    stored = _read(settings.home, secrets)
    key = gh.private_key.get_secret_value()
    if not key and gh.private_key_file is not None:
        try:
            key = gh.private_key_file.read_text()
        except OSError as exc:
            raise ConfigError(
                f"cannot read ERRAND_GITHUB_PRIVATE_KEY_FILE={gh.private_key_file}: "
                f"{exc.strerror}; point it at the App's .pem file"
            ) from None
    if stored is not None:
        return AppConfig(
            app_id=gh.app_id or stored.app_id,
            slug=stored.slug,
            private_key=SecretStr(key or stored.private_key.get_secret_value()),
            webhook_secret=SecretStr(
                gh.webhook_secret.get_secret_value() or stored.webhook_secret.get_secret_value()
            ),
            api_url=gh.api_url if gh.app_id else stored.api_url,
            web_url=gh.web_url if gh.app_id else stored.web_url,
        )
    return AppConfig(
        app_id=gh.app_id,
        private_key=SecretStr(key),
        webhook_secret=gh.webhook_secret,
        api_url=gh.api_url,
        web_url=gh.web_url,
    )


def _read(home: Path, secrets: Secrets) -> AppConfig | None:
    target = paths.github_app(home)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {target}: {exc.strerror}") from None
    try:
        stored = _Stored.model_validate_json(raw)

        def unseal(text: str) -> str:
            return secrets.decrypt(base64.b64decode(text), CONTEXT).decode()

        return AppConfig(
            app_id=stored.app_id,
            slug=stored.slug,
            private_key=SecretStr(unseal(stored.private_key)),
            webhook_secret=SecretStr(unseal(stored.webhook_secret)),
            api_url=stored.api_url,
            web_url=stored.web_url,
        )
    except (ValidationError, ValueError) as exc:
        raise ConfigError(
            f"{target} is damaged or was written under another key ({exc}); {SETUP_HINT}"
        ) from None
