"""Who is calling: the server's own token, a personal API token, or a browser session cookie.

Rules (the security model):
- `Authorization: Bearer <token>` is the only way a token is accepted on API routes; a token
  in a query string never is (blobs use short-lived signed URLs instead, see shared/signing.py).
- A browser session is a random id in a signed, HttpOnly, SameSite=Lax cookie (Secure over
  HTTPS), stored server-side by hash, with an absolute expiry and rotation of the id.
- Unsafe requests (anything but GET/HEAD/OPTIONS) authenticated by the cookie must pass CSRF
  checks: an Origin of this server AND the double-submit token (cookie `errand_csrf` echoed in
  header `X-CSRF-Token`), which is an HMAC of the session id, so a cookie planted by a sibling
  domain cannot forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.cookies import SimpleCookie

from shared.accounts import ApiToken, Session, User, token_hash
from shared.domain import now
from shared.errors import ErrandError, Forbidden, NotFound, Unauthorized
from shared.ports import Sessions, Tokens, Users

SESSION_COOKIE = "errand_session"
CSRF_COOKIE = "errand_csrf"
CSRF_HEADER = "x-csrf-token"
TOKEN_PREFIX = "errand_"
SESSION_LIFETIME = timedelta(days=30)  # absolute, from sign-in
SESSION_IDLE = timedelta(days=7)  # without a request, a session ends
SESSION_ROTATE = timedelta(hours=12)  # a session id older than this is replaced
LOGIN_CODE_TTL = timedelta(hours=1)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

NO_CREDENTIALS = (
    "sign in first: send 'Authorization: Bearer <token>' (`errand token create` makes one; on "
    "this machine the CLI uses the token in ERRAND_HOME/server.json), or sign in in the browser"
)


@dataclass
class Identity:
    user: User
    via: str  # internal | token | session
    set_cookies: list[str] = field(default_factory=list)  # Set-Cookie values to send back
    session_hash: str = ""
    csrf_expected: str = ""  # what this request's X-CSRF-Token must be


@dataclass
class Authenticator:
    users: Users
    tokens: Tokens
    sessions: Sessions
    signing_key: bytes
    internal_token: str
    local_login: str  # the local user's login; '' when the internal token acts as nobody
    secure_cookies: bool = False

    def identify(
        self, method: str, headers: Mapping[str, str], origins: set[str], rotate: bool = True
    ) -> Identity:
        """`headers` with lower-case names; `origins` the browser origins that are this
        server. `rotate=False` for responses that cannot set cookies (streams, blobs): a due
        session rotation waits for the next ordinary request. Raises Unauthorized (401) or
        Forbidden (403: CSRF)."""
        auth = headers.get("authorization", "")
        if auth:
            scheme, _, given = auth.partition(" ")
            if scheme.lower() != "bearer" or not given.strip():
                raise Unauthorized("the Authorization header must be 'Bearer <token>'")
            return self._bearer(given.strip())
        cookies = parse_cookies(headers.get("cookie", ""))
        raw = cookies.get(SESSION_COOKIE, "")
        if not raw:
            raise Unauthorized(NO_CREDENTIALS)
        identity = self._session(raw, rotate)
        if method.upper() not in SAFE_METHODS:
            self._check_csrf(identity, headers, cookies, origins)
        return identity

    # ------------------------------------------------------------------------ tokens

    def _bearer(self, given: str) -> Identity:
        if self.internal_token and hmac.compare_digest(
            given.encode(), self.internal_token.encode()
        ):
            if not self.local_login:
                raise Unauthorized("the server's internal token only delivers queue requests")
            return Identity(self.users.ensure_local_user(self.local_login), "internal")
        if given.startswith(TOKEN_PREFIX):
            try:
                token = self.tokens.find_token(token_hash(given))
            except NotFound:
                token = None
            if token is not None:
                if token.expires_at is not None and token.expires_at <= now():
                    raise Unauthorized(
                        f"the token {token.name!r} expired on {token.expires_at:%Y-%m-%d}; "
                        "create a new one with `errand token create`"
                    )
                return Identity(self.users.get_user(token.user_id), "token")
        raise Unauthorized("this token is unknown, revoked or expired; " + NO_CREDENTIALS)

    def is_internal(self, headers: Mapping[str, str]) -> bool:
        given = headers.get("authorization", "").partition(" ")[2].strip()
        return bool(self.internal_token) and hmac.compare_digest(
            given.encode(), self.internal_token.encode()
        )

    # ------------------------------------------------------------------------ sessions

    def start_session(self, user: User, replaces: str = "") -> Identity:
        """A new session for `user` (sign-in, or rotation replacing `replaces`)."""
        sid = secrets.token_urlsafe(32)
        at = now()
        session = Session(
            hash=token_hash(sid),
            user_id=user.id,
            created_at=at,
            rotated_at=at,
            expires_at=at + SESSION_LIFETIME,
        )
        return self._issue(user, session, sid, replaces)

    def login_code(self, user: User) -> str:
        """A one-time code for `/?login=<code>` (Jupyter-style browser sign-in)."""
        code = secrets.token_urlsafe(24)
        self.sessions.add_code("login", token_hash(code), user.id, "", now() + LOGIN_CODE_TTL)
        return code

    def redeem_login_code(self, code: str) -> Identity:
        try:
            user_id, _ = self.sessions.take_code("login", token_hash(code))
            user = self.users.get_user(user_id)
        except NotFound:
            raise Unauthorized(
                "this login link was already used or has expired; run `errand open` for a new one"
            ) from None
        return self.start_session(user)

    def end_session(self, identity: Identity) -> list[str]:
        if identity.session_hash:
            self.sessions.delete_session(identity.session_hash)
        return [
            self._cookie(SESSION_COOKIE, "", http_only=True, max_age=0),
            self._cookie(CSRF_COOKIE, "", http_only=False, max_age=0),
        ]

    def csrf_token(self, sid: str) -> str:
        return hmac.new(self.signing_key, b"csrf|" + sid.encode(), hashlib.sha256).hexdigest()

    def _issue(self, user: User, session: Session, sid: str, replaces: str) -> Identity:
        self.sessions.put_session(session, replaces=replaces)
        max_age = int((session.expires_at - now()).total_seconds())
        cookies = [
            self._cookie(SESSION_COOKIE, self._sign(sid), http_only=True, max_age=max_age),
            self._cookie(CSRF_COOKIE, self.csrf_token(sid), http_only=False, max_age=max_age),
        ]
        return Identity(user, "session", cookies, session.hash)

    def _session(self, raw: str, rotate: bool) -> Identity:
        sid, _, sig = raw.rpartition(".")
        if not sid or not hmac.compare_digest(sig, self._signature(sid)):
            raise Unauthorized("the session cookie is not valid; sign in again")
        try:
            session = self.sessions.find_session(token_hash(sid))
            user = self.users.get_user(session.user_id)
        except NotFound:
            raise Unauthorized("your session ended; sign in again") from None
        at = now()
        if at - session.rotated_at > SESSION_IDLE:
            self.sessions.delete_session(session.hash)
            raise Unauthorized("your session ended after a week without use; sign in again")
        # the request carries the CSRF token of the id it was sent with, even when rotated now
        identity = Identity(user, "session", [], session.hash, self.csrf_token(sid))
        if rotate and at - session.rotated_at > SESSION_ROTATE:
            new_sid = secrets.token_urlsafe(32)
            rotated = session.model_copy(update={"hash": token_hash(new_sid), "rotated_at": at})
            fresh = self._issue(user, rotated, new_sid, replaces=session.hash)
            identity.set_cookies, identity.session_hash = fresh.set_cookies, rotated.hash
        return identity

    def _check_csrf(
        self,
        identity: Identity,
        headers: Mapping[str, str],
        cookies: Mapping[str, str],
        origins: set[str],
    ) -> None:
        origin = headers.get("origin", "")
        if not origin or origin.rstrip("/") not in origins:
            raise Forbidden(
                f"cross-site request refused: Origin {origin or '(none)'} is not this server"
            )
        expected = identity.csrf_expected
        given = headers.get(CSRF_HEADER, "")
        cookie = cookies.get(CSRF_COOKIE, "")
        if (
            not given
            or not hmac.compare_digest(given, cookie)
            or not hmac.compare_digest(given, expected)
        ):
            raise Forbidden(
                f"missing or wrong CSRF token: echo the {CSRF_COOKIE} cookie in the "
                "X-CSRF-Token header"
            )

    def _sign(self, sid: str) -> str:
        return f"{sid}.{self._signature(sid)}"

    def _signature(self, sid: str) -> str:
        return hmac.new(self.signing_key, b"session|" + sid.encode(), hashlib.sha256).hexdigest()

    def _cookie(self, name: str, value: str, *, http_only: bool, max_age: int) -> str:
        parts = [f"{name}={value}", "Path=/", f"Max-Age={max(0, max_age)}", "SameSite=Lax"]
        if http_only:
            parts.append("HttpOnly")
        if self.secure_cookies:
            parts.append("Secure")
        return "; ".join(parts)


def new_token(user_id: str, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A personal API token: the record to store (its hash) and the value, shown once."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user_id, name=name, hash=token_hash(raw), last4=raw[-4:], expires_at=expires_at
    )
    return token, raw


def parse_cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is as good as none
        return {}
    return {k: m.value for k, m in jar.items()}


def is_auth_error(exc: ErrandError) -> bool:
    return isinstance(exc, Unauthorized | Forbidden)
