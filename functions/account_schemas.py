"""Request and response models of the signed-in user's routes (functions/account_handlers.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.accounts import CredentialInfo, EffectiveLimits, Limits
from shared.domain import Model
from shared.ports import RepoInfo


class PutKey(Model):
    key: str = Field(min_length=1, max_length=4096, description="write-only: never returned")
    api_base: str = Field(default="", max_length=500, description="an OpenAI-compatible base URL")


class CreateToken(Model):
    name: str = Field(min_length=1, max_length=100)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class UserView(Model):
    id: str
    github_id: int
    login: str
    name: str
    avatar_url: str
    admin: bool
    created_at: datetime


class MeView(Model):
    user: UserView
    mode: str = Field(description="single (one local user) or multi (GitHub sign-in)")
    default_model: str
    models: list[str] = Field(description="the default plus models of providers you have keys for")
    limits: EffectiveLimits


class KeysView(Model):
    keys: list[CredentialInfo]


class UsageTotals(Model):
    tasks: int
    tokens: int
    usd: float


class UsageDay(UsageTotals):
    date: str
    resets_at: str = ""


class UsageMonth(UsageTotals):
    month: str
    resets_at: str


class UsageView(Model):
    day: UsageDay
    month: UsageMonth
    days: list[UsageDay]
    limits: EffectiveLimits


class ReposView(Model):
    repos: list[RepoInfo]


class BranchesView(Model):
    branches: list[str]


class TokenView(Model):
    id: str
    name: str
    last4: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class NewTokenView(TokenView):
    token: str = Field(description="shown this once; stored only as a hash")


class TokensView(Model):
    tokens: list[TokenView]


class Done(Model):
    done: str


class UserLimitsView(Model):
    user: UserView
    limits: Limits
