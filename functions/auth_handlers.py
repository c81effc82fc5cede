"""Browser sign-in: GitHub's OAuth web flow (state + PKCE) and the one-time login link of
single-user mode. Thin: the flow's rules live in shared/auth.py and the GitHubAccount port."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

import flask

from shared.accounts import token_hash
from shared.auth import Identity, parse_cookies
from shared.domain import now
from shared.errors import InvalidInput, NotFound, Unauthorized
from shared.wiring import Deps

STATE_COOKIE = "errand_oauth_state"
STATE_TTL = timedelta(minutes=10)


def public_origin(request: flask.Request, deps: Deps) -> str:
    return deps.settings.public_url or request.host_url.rstrip("/")


def github_login(request: flask.Request, deps: Deps) -> flask.Response:
    if not deps.settings.multi_user:
        raise NotFound(
            "GitHub sign-in is not configured on this server (single-user mode): open the "
            "login link `errand up` printed, or run `errand open`"
        )
    state = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    deps.sessions.add_code("oauth", token_hash(state), "", verifier, now() + STATE_TTL)
    redirect_uri = public_origin(request, deps) + "/auth/github/callback"
    url = deps.github_oauth.authorize_url(state, challenge.rstrip(b"=").decode(), redirect_uri)
    response = flask.Response(status=302, headers={"Location": url})
    secure = "; Secure" if redirect_uri.startswith("https://") else ""
    response.headers.add(
        "Set-Cookie",
        f"{STATE_COOKIE}={state}; Path=/auth/github; Max-Age={int(STATE_TTL.total_seconds())}; "
        f"HttpOnly; SameSite=Lax{secure}",
    )
    return response


def github_callback(request: flask.Request, deps: Deps) -> flask.Response:
    if not deps.settings.multi_user:
        raise NotFound("GitHub sign-in is not configured on this server")
    if request.args.get("error"):
        raise Unauthorized(
            f"GitHub sign-in was not completed ({request.args.get('error')}); try again"
        )
    state, code = request.args.get("state", ""), request.args.get("code", "")
    cookie = parse_cookies(request.headers.get("Cookie", "")).get(STATE_COOKIE, "")
    # the state must come back to the browser that started the flow (no login CSRF)
    if not state or not code or not cookie or not hmac.compare_digest(state, cookie):
        raise InvalidInput(
            "this sign-in did not start in this browser (state mismatch); start again at "
            "/auth/github/login"
        )
    try:
        _, verifier = deps.sessions.take_code("oauth", token_hash(state))
    except NotFound:
        raise InvalidInput(
            "this sign-in expired or was already used; start again at /auth/github/login"
        ) from None
    redirect_uri = public_origin(request, deps) + "/auth/github/callback"
    token = deps.github_oauth.exchange(code, verifier, redirect_uri)
    who = deps.github_oauth.user(token)
    user = deps.users.ensure_github_user(who.id, who.login, who.name, who.avatar_url)
    deps.keys.put_github_token(user.id, token)
    response = _signed_in(deps.auth.start_session(user))
    response.headers.add("Set-Cookie", f"{STATE_COOKIE}=; Path=/auth/github; Max-Age=0")
    return response


def login_link(request: flask.Request, deps: Deps) -> flask.Response:
    """`GET /?login=<code>`: exchanges the one-time code for a session, then drops the code
    from the address bar."""
    try:
        found = deps.auth.redeem_login_code(request.args.get("login", ""))
    except Unauthorized as exc:
        return flask.Response(exc.message + "\n", status=401, mimetype="text/plain")
    return _signed_in(found)


def _signed_in(found: Identity) -> flask.Response:
    response = flask.Response(status=302, headers={"Location": "/"})
    for cookie in found.set_cookies:
        response.headers.add("Set-Cookie", cookie)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
