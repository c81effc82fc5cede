"""Users, their limits and what they spent. Pure: no IO, no SDKs.

Users are GitHub identities; single-user mode (`errand up` without GitHub OAuth) serves one
fixed local user who is an admin. Times are UTC; a quota day starts at 00:00 UTC and a budget
month on the 1st at 00:00 UTC."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from shared.domain import LOCAL_USER_ID, Model, now
from shared.errors import QuotaExceeded

__all__ = ["LOCAL_USER_ID"]


def new_user_id() -> str:
    return "u_" + secrets.token_hex(8)


class Limits(Model):
    """Per-user caps. None means 'the operator's default'; an admin may set any of them per
    user. `tasks_per_day` and `concurrent_tasks` of 0 mean unlimited."""

    tasks_per_day: int | None = Field(default=None, ge=0, le=100_000)
    concurrent_tasks: int | None = Field(default=None, ge=0, le=1_000)
    monthly_budget_usd: float | None = Field(default=None, ge=0, le=1_000_000)


class User(Model):
    id: str = Field(default_factory=new_user_id)
    github_id: int = 0  # 0 for the local user
    login: str
    name: str = ""
    avatar_url: str = ""
    admin: bool = False
    created_at: datetime = Field(default_factory=now)
    limits: Limits = Field(default_factory=Limits)

    def public(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"limits"})


class EffectiveLimits(Model):
    tasks_per_day: int  # 0 = unlimited
    concurrent_tasks: int  # 0 = unlimited
    monthly_budget_usd: float


class Mode(StrEnum):
    SINGLE = "single"
    MULTI = "multi"


def day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def next_day(moment: datetime) -> datetime:
    return day_start(moment) + timedelta(days=1)


def month_start(moment: datetime) -> datetime:
    return day_start(moment).replace(day=1)


def next_month(moment: datetime) -> datetime:
    start = month_start(moment)
    return (start + timedelta(days=32)).replace(day=1)


def month_key(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def token_hash(token: str) -> str:
    """Personal tokens, session ids and login codes are random, 256-bit: a plain hash stored in
    place of the value is enough (no salt or stretching needed for values nobody chose)."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(Model):
    id: str = Field(default_factory=lambda: "tok_" + secrets.token_hex(6))
    user_id: str
    name: str
    hash: str
    last4: str
    created_at: datetime = Field(default_factory=now)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


class Session(Model):
    """A browser session, stored server-side under the hash of its id."""

    hash: str
    user_id: str
    created_at: datetime = Field(default_factory=now)
    rotated_at: datetime = Field(default_factory=now)
    expires_at: datetime


class CredentialInfo(Model):
    """What may be shown of a stored credential: never the key."""

    provider: str
    last4: str
    api_base: str = ""
    added_at: datetime = Field(default_factory=now)


class StoredCredential(Model):
    info: CredentialInfo
    ciphertext: bytes


class Spend(Model):
    tasks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0


def quota_refusal(
    limits: EffectiveLimits, created_today: int, active: int, at: datetime
) -> QuotaExceeded | None:
    """The error for a task that would pass a quota, or None when it fits. Pure, so every
    store enforces the same rule inside its own transaction."""
    if limits.tasks_per_day and created_today >= limits.tasks_per_day:
        reset = next_day(at)
        wait = max(1, int((reset - at).total_seconds()) + 1)
        return QuotaExceeded(
            f"daily task quota reached: {created_today} of {limits.tasks_per_day} tasks today; "
            f"it resets at {reset.isoformat()} (an admin can raise it with the user limits)",
            retry_after_s=wait,
            resets_at=reset.isoformat(),
        )
    if limits.concurrent_tasks and active >= limits.concurrent_tasks:
        return QuotaExceeded(
            f"concurrent task limit reached: {active} of {limits.concurrent_tasks} tasks are "
            "still running or waiting for approval; finish, approve or cancel one and retry",
            retry_after_s=CONCURRENT_RETRY_S,
            resets_at=(at + timedelta(seconds=CONCURRENT_RETRY_S)).isoformat(),
        )
    return None


CONCURRENT_RETRY_S = 60


def effective_limits(
    user: User, tasks_per_day: int, concurrent_tasks: int, monthly_budget_usd: float
) -> EffectiveLimits:
    """The user's own limits over the operator's defaults. Admins (operators) have no task
    quotas unless one is set for them; the monthly budget holds for everyone."""
    own = user.limits
    default_day, default_concurrent = (0, 0) if user.admin else (tasks_per_day, concurrent_tasks)
    return EffectiveLimits(
        tasks_per_day=own.tasks_per_day if own.tasks_per_day is not None else default_day,
        concurrent_tasks=(
            own.concurrent_tasks if own.concurrent_tasks is not None else default_concurrent
        ),
        monthly_budget_usd=(
            own.monthly_budget_usd if own.monthly_budget_usd is not None else monthly_budget_usd
        ),
    )


def budget_refusal(
    usd: float,
    spent_task: float,
    task_usd: float,
    spent_month: float,
    monthly_usd: float,
    month: str,
) -> str:
    """Why a call that may cost `usd` must not be made ('' when it fits)."""
    if spent_task + usd > task_usd:
        over = spent_task + usd - task_usd
        return (
            f"the task budget of ${task_usd:.2f} would be passed by ${over:.4f}: the task has "
            f"spent ${spent_task:.4f} and the next model call may cost up to ${usd:.4f} "
            "(ERRAND_MAX_COST_USD sets the task budget)"
        )
    if spent_month + usd > monthly_usd:
        over = spent_month + usd - monthly_usd
        return (
            f"your monthly budget of ${monthly_usd:.2f} for {month} would be passed by "
            f"${over:.4f}: ${spent_month:.4f} is spent and the next model call may cost up to "
            f"${usd:.4f}; it renews on the 1st (an admin can raise it)"
        )
    return ""
