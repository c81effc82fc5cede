"""Signing the CLI in through the browser: the OAuth device authorization grant (RFC 8628)
with Errand's personal API tokens as the access token.

1. The CLI starts a login: a secret device code (for the CLI) and a short user code (for the
   person), both stored only as hashes, alive for ten minutes.
2. The person, signed in to the web app, opens the verification page, sees the CLI's host name
   and the user code, and approves or denies. The user code works once.
3. The CLI polls with the device code at the interval it was given: `authorization_pending`
   until the person decides, `slow_down` (and five seconds more between polls) when it polls
   too fast, `access_denied` or `expired_token` at the end. After approval its first poll
   receives a new personal API token named after its host, exactly once: the token is minted
   at that moment, so its value is never stored, not even briefly.

Guessing is bounded: user codes have 20^8 values (about 34 bits, no vowels so no words), and
each user may get at most GUESS_LIMIT codes wrong per window; starts are limited per client
address; device codes are 256-bit."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from shared.accounts import ApiToken, User, token_hash
from shared.auth import new_token
from shared.domain import Model, now
from shared.errors import Conflict, ErrandError, InvalidInput, NotFound
from shared.ports import Sessions, Tokens, Users
from shared.ratelimit import Attempts

DEVICE_TTL = timedelta(minutes=10)
POLL_INTERVAL_S = 5
SLOW_DOWN_S = 5  # added to the interval on every `slow_down` (RFC 8628 §3.5)
POLL_GRACE = timedelta(seconds=1)  # timers and latency: a poll this early is still fine
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1
USER_CODE_LENGTH = 8
GUESS_LIMIT, GUESS_WINDOW = 10, timedelta(minutes=10)
START_LIMIT, START_WINDOW = 30, timedelta(minutes=10)
DEVICE, USER_CODE = "device", "device_user"
_RETRIES = 20


class DeviceLoginError(ErrandError):
    """The poll's answer while there is no token (RFC 8628 §3.5): `code` is one of
    authorization_pending, slow_down, access_denied, expired_token."""

    http_status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _expired() -> DeviceLoginError:
    return DeviceLoginError(
        "expired_token",
        "this login request expired (they last ten minutes) or was already used; run "
        "`errand login` again",
    )


class DeviceGrant(Model):
    """What is stored under the device code's hash while a login waits."""

    user_code_hash: str
    host: str
    client: str
    status: Literal["pending", "approved", "denied"] = "pending"
    interval_s: int = POLL_INTERVAL_S
    last_poll_at: datetime | None = None
    created_at: datetime
    expires_at: datetime


class DeviceStart(Model):
    device_code: str
    user_code: str
    expires_in: int
    interval: int


class DeviceRequest(Model):
    """A waiting login as its approver sees it."""

    user_code: str
    host: str
    client: str
    created_at: datetime
    expires_at: datetime


class Minted(Model):
    token: ApiToken
    value: str
    login: str


def normalize(user_code: str) -> str:
    """What a person may type: any case, with or without the dash or spaces."""
    return "".join(c for c in user_code.upper() if c.isalnum())


def display(code: str) -> str:
    half = USER_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def _clean(text: str, what: str, required: bool) -> str:
    cleaned = "".join(c for c in text if c.isprintable()).strip()
    if required and not cleaned:
        raise InvalidInput(f"{what} is empty: send the name of the machine the CLI runs on")
    return cleaned[:100]


@dataclass
class DeviceLogin:
    sessions: Sessions
    tokens: Tokens
    users: Users
    clock: Callable[[], datetime] = field(default=now)  # when polls happen (tests move it)

    def __post_init__(self) -> None:
        self.guesses = Attempts(
            self.sessions, "login code", GUESS_LIMIT, GUESS_WINDOW, "check the code the CLI shows"
        )
        self.starts = Attempts(
            self.sessions, "CLI login", START_LIMIT, START_WINDOW, "finish the logins started"
        )

    # ------------------------------------------------------------------------ the CLI's side

    def start(self, host: str, client: str, address: str) -> DeviceStart:
        """A new login request from the CLI on `host`, calling from `address`."""
        host, client = _clean(host, "host", True), _clean(client, "client", False)
        self.starts.spend(address)
        device_code = secrets.token_urlsafe(32)
        at = now()
        for _ in range(_RETRIES):
            code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
            grant = DeviceGrant(
                user_code_hash=token_hash(code),
                host=host,
                client=client,
                created_at=at,
                expires_at=at + DEVICE_TTL,
            )
            # create-if-absent: a user code names one live login only
            if self.sessions.swap_code(
                USER_CODE, grant.user_code_hash, None, "", token_hash(device_code), grant.expires_at
            ):
                break
        else:
            raise Conflict("could not pick a free login code; try again")
        self.sessions.add_code(
            DEVICE, token_hash(device_code), "", grant.model_dump_json(), grant.expires_at
        )
        return DeviceStart(
            device_code=device_code,
            user_code=display(code),
            expires_in=int(DEVICE_TTL.total_seconds()),
            interval=POLL_INTERVAL_S,
        )

    def poll(self, device_code: str) -> Minted:
        """The token, once, after approval; otherwise raises DeviceLoginError."""
        hash_ = token_hash(device_code)
        for _ in range(_RETRIES):
            try:
                user_id, data = self.sessions.find_code(DEVICE, hash_)
            except NotFound:
                raise _expired() from None
            grant = DeviceGrant.model_validate_json(data)
            if grant.status != "pending":
                try:
                    self.sessions.take_code(DEVICE, hash_)  # whoever takes it, once
                except NotFound:
                    raise _expired() from None
                if grant.status == "denied":
                    raise DeviceLoginError(
                        "access_denied", f"the login of {grant.host} was denied in the browser"
                    )
                return self._mint(user_id, grant)
            at = self.clock()
            early = grant.last_poll_at is not None and at - grant.last_poll_at < (
                timedelta(seconds=grant.interval_s) - POLL_GRACE
            )
            interval = grant.interval_s + (SLOW_DOWN_S if early else 0)
            update = grant.model_copy(update={"last_poll_at": at, "interval_s": interval})
            if self.sessions.swap_code(
                DEVICE, hash_, data, user_id, update.model_dump_json(), grant.expires_at
            ):
                if early:
                    raise DeviceLoginError(
                        "slow_down", f"polling too fast: wait {interval} s between polls"
                    )
                raise DeviceLoginError(
                    "authorization_pending",
                    "waiting for the login to be approved in the browser",
                )
        raise Conflict("this login request is being changed by someone else; poll again")

    def _mint(self, user_id: str, grant: DeviceGrant) -> Minted:
        user = self.users.get_user(user_id)
        token, value = new_token(user.id, f"errand login on {grant.host}"[:100])
        self.tokens.add_token(token)
        return Minted(token=token, value=value, login=user.login)

    # ------------------------------------------------------------------------ the browser's side

    def describe(self, user: User, user_code: str) -> DeviceRequest:
        """The waiting login `user_code` names, for its approval page."""
        _, grant = self._find(user, user_code)
        return DeviceRequest(
            user_code=display(normalize(user_code)),
            host=grant.host,
            client=grant.client,
            created_at=grant.created_at,
            expires_at=grant.expires_at,
        )

    def decide(self, user: User, user_code: str, approve: bool) -> DeviceRequest:
        """Approves (as `user`) or denies the login; the user code is used up either way."""
        request = self.describe(user, user_code)
        try:
            _, device_hash = self.sessions.take_code(USER_CODE, token_hash(normalize(user_code)))
        except NotFound:
            raise self._unknown(user, user_code) from None
        for _ in range(_RETRIES):
            try:
                _, data = self.sessions.find_code(DEVICE, device_hash)
            except NotFound:
                raise self._unknown(user, user_code) from None
            grant = DeviceGrant.model_validate_json(data)
            status = "approved" if approve else "denied"
            update = grant.model_copy(update={"status": status}).model_dump_json()
            expires = grant.expires_at
            if self.sessions.swap_code(DEVICE, device_hash, data, user.id, update, expires):
                return request
        raise Conflict("this login request is being changed by someone else; try again")

    def _find(self, user: User, user_code: str) -> tuple[str, DeviceGrant]:
        self.guesses.check(user.id)
        try:
            _, device_hash = self.sessions.find_code(USER_CODE, token_hash(normalize(user_code)))
            _, data = self.sessions.find_code(DEVICE, device_hash)
        except NotFound:
            raise self._unknown(user, user_code) from None
        return device_hash, DeviceGrant.model_validate_json(data)

    def _unknown(self, user: User, user_code: str) -> NotFound:
        self.guesses.spend(user.id)
        return NotFound(
            f"no login is waiting for the code {user_code[:20]!r}: check it against the one the "
            "CLI shows; codes work once and for ten minutes (run `errand login` again for a new "
            "one)"
        )
