"""`errand github setup` (manifest flow and manual), the stored configuration, and doctor's
GitHub check, against the GitHub stand-in."""

from __future__ import annotations

import html
import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared import paths
from shared.adapters.local_secrets import LocalSecrets
from shared.errors import InvalidInput
from shared.github import config
from shared.github.doctor import check
from shared.github.setup import ManifestFlow, run_setup
from shared.settings import Settings
from tests.support.github_fixtures import standin
from tests.support.github_standin import GitHubStandIn

__all__ = ["standin"]


def settings_for(gh: GitHubStandIn, home: Path, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "ERRAND_HOME": str(home),
            "ERRAND_MODEL": "openai/gpt-4o-mini",
            "ERRAND_GITHUB_API_URL": gh.api_url,
            "ERRAND_GITHUB_URL": gh.web_url,
            **extra,
        }
    )


def test_manifest_flow_registers_and_stores_the_app(standin: GitHubStandIn, tmp_path: Path) -> None:
    settings = settings_for(standin, tmp_path / "home")
    secrets = LocalSecrets(paths.key_file(settings.home))
    flow = ManifestFlow(settings, "https://errand.example.com", org="octo-org")
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(flow.run(secrets, timeout_s=30)))
    runner.start()
    # the browser: the page posts the manifest to GitHub's "new App" page of the organization
    page = httpx.get(flow.url, timeout=10).text
    action = html.unescape(re.search(r'action="([^"]+)"', page)[1])  # type: ignore[index]
    assert action.startswith(f"{standin.web_url}/organizations/octo-org/settings/apps/new?state=")
    manifest = json.loads(html.unescape(re.search(r'value="([^"]+)"', page)[1]))  # type: ignore[index]
    assert manifest["hook_attributes"]["url"] == "https://errand.example.com/api/webhooks/github"
    assert manifest["default_permissions"] == {
        "contents": "write",
        "issues": "write",
        "pull_requests": "write",
        "metadata": "read",
    }
    assert set(manifest["default_events"]) == {
        "issues",
        "issue_comment",
        "pull_request",
        "pull_request_review_comment",
    }
    assert manifest["public"] is False and manifest["redirect_url"] == flow.url + "callback"
    # a forged answer (wrong state) is refused; GitHub's redirect is taken
    state = action.split("state=", 1)[1]
    assert httpx.get(flow.url + "callback?code=x&state=forged", timeout=10).status_code == 400
    code = standin.register_from_manifest(manifest)
    assert httpx.get(f"{flow.url}callback?code={code}&state={state}", timeout=10).status_code == 200
    runner.join(30)
    assert result == {
        "id": standin.app_id,
        "slug": "errand-test",
        "html_url": f"{standin.web_url}/apps/errand-test",
    }
    stored = paths.github_app(settings.home).read_text()
    assert "PRIVATE KEY" not in stored and standin.state.webhook_secret not in stored
    assert paths.github_app(settings.home).stat().st_mode & 0o077 == 0
    app = config.load(settings, secrets)
    assert app.app_id == standin.app_id and app.slug == "errand-test"
    assert app.private_key.get_secret_value() == standin.private_key_pem
    assert app.webhook_secret.get_secret_value() == standin.state.webhook_secret
    assert "GitHub App errand-test (id 4242) authenticates" in check(settings, app)


def test_manual_setup_stores_what_the_person_created(
    standin: GitHubStandIn, tmp_path: Path
) -> None:
    settings = settings_for(standin, tmp_path / "home")
    secrets = LocalSecrets(paths.key_file(settings.home))
    printed: list[str] = []
    assert (
        run_setup(
            settings, secrets, public_url="https://e.example", manual=True, out=printed.append
        )
        == 0
    )
    assert "https://e.example/api/webhooks/github" in printed[0]
    assert "contents: write, issues: write, pull_requests: write, metadata: read" in printed[0]
    key, secret = tmp_path / "app.pem", tmp_path / "secret.txt"
    key.write_text(standin.private_key_pem)
    secret.write_text("a-long-webhook-secret-0123456789\n")
    run_setup(
        settings,
        secrets,
        public_url="https://e.example",
        app_id=standin.app_id,
        key_file=key,
        secret_file=secret,
        out=printed.append,
    )
    app = config.load(settings, secrets)
    assert app.webhook_secret.get_secret_value() == "a-long-webhook-secret-0123456789"
    assert "authenticates" in check(settings, app)
    with pytest.raises(InvalidInput, match="not a PEM private key"):
        run_setup(
            settings,
            secrets,
            public_url="https://e.example",
            app_id=1,
            key_file=secret,
            secret_file=secret,
        )
    with pytest.raises(InvalidInput, match="--public-url"):
        run_setup(settings, secrets, public_url="")


def test_the_environment_overrides_what_was_stored(standin: GitHubStandIn, tmp_path: Path) -> None:
    home = tmp_path / "home"
    secrets = LocalSecrets(paths.key_file(home))
    config.save(home, secrets, app_id=1, private_key="stored-key", webhook_secret="stored-secret")
    settings = settings_for(standin, home, ERRAND_GITHUB_WEBHOOK_SECRET="env-secret")
    app = config.load(settings, secrets)
    assert (app.app_id, app.private_key.get_secret_value()) == (1, "stored-key")
    assert app.webhook_secret.get_secret_value() == "env-secret"


def test_doctor_says_what_is_wrong(standin: GitHubStandIn, tmp_path: Path) -> None:
    settings = settings_for(standin, tmp_path / "home")
    assert "optional" in check(settings, config.AppConfig())
    with pytest.raises(RuntimeError, match="lacks the private key"):
        check(settings, config.AppConfig(app_id=5))
    broken = config.AppConfig(
        app_id=standin.app_id,
        private_key=standin.private_key_pem,  # type: ignore[arg-type]
        api_url=standin.api_url,
    )
    with pytest.raises(RuntimeError, match="no webhook secret"):
        check(settings, broken)
    secret = broken.model_copy(update={"webhook_secret": config.SecretStr("x")})
    no_model = settings.model_copy(update={"model": ""})
    with pytest.raises(RuntimeError, match="set ERRAND_MODEL"):
        check(no_model, secret)
    wrong_id = broken.model_copy(update={"app_id": 99, "webhook_secret": config.SecretStr("x")})
    with pytest.raises(RuntimeError, match="refused the App 99"):
        check(settings, wrong_id)
