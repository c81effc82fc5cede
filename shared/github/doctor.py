"""`errand doctor`'s GitHub check: the App is optional; once configured it must authenticate."""

from __future__ import annotations

import httpx

from shared.errors import ErrandError
from shared.github.config import SETUP_HINT, AppConfig
from shared.settings import Settings


def check(settings: Settings, app: AppConfig) -> str:
    if not app.app_id and not app.private_key.get_secret_value():
        return f"no GitHub App (optional: {SETUP_HINT.removeprefix('run ')})"
    if not app.can_authenticate:
        missing = "the private key" if app.app_id else "the App id"
        raise RuntimeError(f"the GitHub App lacks {missing}: {SETUP_HINT}")
    if not app.webhook_secret.get_secret_value():
        raise RuntimeError(f"no webhook secret, so every delivery would be refused: {SETUP_HINT}")
    if not settings.model:
        raise RuntimeError(
            "tasks from GitHub run on the server's default model, and none is set: set "
            "ERRAND_MODEL (and its key) where `errand up` runs"
        )
    from shared.adapters.github_app import API_VERSION, AppAuth

    auth = AppAuth(app.app_id, app.private_key.get_secret_value(), app.api_url)
    try:
        token = auth.app_jwt()
        res = httpx.get(
            f"{app.api_url}/app",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "errand",
            },
            timeout=15,
        )
    except ErrandError as exc:
        raise RuntimeError(exc.message) from None
    except httpx.HTTPError as exc:
        raise RuntimeError(f"cannot reach {app.api_url} ({type(exc).__name__})") from None
    if res.status_code != 200:
        raise RuntimeError(
            f"GitHub refused the App {app.app_id} ({res.status_code}): check its id and private "
            f"key and this machine's clock; {SETUP_HINT}"
        )
    slug = res.json().get("slug", "?")
    public = settings.github.public_url or "(ERRAND_PUBLIC_URL not set)"
    return (
        f"GitHub App {slug} (id {app.app_id}) authenticates at {app.api_url}; trigger label "
        f"'{settings.github.label}'; webhooks at {public}/api/webhooks/github"
    )
