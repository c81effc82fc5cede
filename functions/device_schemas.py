"""Request and response models of the CLI's browser sign-in (functions/device_handlers.py)."""

from __future__ import annotations

from pydantic import Field

from shared.domain import Model


class StartCliLogin(Model):
    host: str = Field(min_length=1, max_length=100, description="the machine the CLI runs on")
    client: str = Field(default="", max_length=100, description="e.g. errand-cli/0.1 (Linux)")


class CliLoginStarted(Model):
    device_code: str = Field(description="the CLI's secret: polls with it, never shows it")
    user_code: str = Field(description="what the person checks in the browser, e.g. BCDF-GHJK")
    verification_uri: str = Field(description="where the person approves")
    verification_uri_complete: str = Field(description="the same, with the code filled in")
    expires_in: int = Field(description="seconds the codes live")
    interval: int = Field(description="seconds to wait between polls")


class PollCliLogin(Model):
    device_code: str = Field(min_length=1, max_length=200)


class CliLoginToken(Model):
    token: str = Field(description="a personal API token, handed out this once")
    token_id: str
    name: str
    login: str = Field(description="the user who approved")


class CliLoginDecision(Model):
    status: str = Field(description="approved or denied")
    user_code: str
    host: str
