"""The signed-in user's routes and GitHub sign-in, for the route table in functions/handlers.py."""

from __future__ import annotations

from functions import account_handlers as me
from functions import auth_handlers, device_handlers
from functions.account_schemas import (
    BranchesView,
    CreateToken,
    Done,
    KeysView,
    MeView,
    NewTokenView,
    PutKey,
    ReposView,
    TokensView,
    UsageView,
    UserLimitsView,
)
from functions.device_schemas import (
    CliLoginDecision,
    CliLoginStarted,
    CliLoginToken,
    PollCliLogin,
    StartCliLogin,
)
from functions.routes import Route
from functions.schemas import Empty
from shared.accounts import CredentialInfo, Limits
from shared.device_login import DeviceRequest

ACCOUNT_ROUTES = [
    Route("GET", "/api/me", me.me, "The signed-in user, mode, models and limits", response=MeView),
    Route(
        "GET", "/api/me/keys", me.keys_list, "Your model keys (never the keys)", response=KeysView
    ),
    Route(
        "PUT",
        "/api/me/keys/<provider>",
        me.key_put,
        "Store your key for a litellm provider (write-only)",
        body=PutKey,
        response=CredentialInfo,
        errors=(400,),
    ),
    Route(
        "DELETE",
        "/api/me/keys/<provider>",
        me.key_delete,
        "Delete your key for a provider",
        response=Done,
        errors=(404,),
    ),
    Route(
        "GET",
        "/api/me/usage",
        me.usage,
        "Tasks, tokens and USD per day and month",
        response=UsageView,
    ),
    Route(
        "GET",
        "/api/me/repos",
        me.repos,
        "Repositories you may use",
        response=ReposView,
        errors=(400,),
    ),
    Route(
        "GET",
        "/api/repos/<path:full_name>/branches",
        me.branches,
        "Branches of a GitHub repository you may use (owner/name)",
        response=BranchesView,
        errors=(400, 404),
    ),
    Route(
        "GET",
        "/api/repos//<path:local_path>/branches",
        me.local_branches,
        "Branches of a local repository you may use: its absolute path after /api/repos/",
        response=BranchesView,
        errors=(400, 404),
    ),
    Route("GET", "/api/me/tokens", me.tokens_list, "Your personal API tokens", response=TokensView),
    Route(
        "POST",
        "/api/me/tokens",
        me.token_create,
        "Create a personal API token (shown once)",
        body=CreateToken,
        response=NewTokenView,
        status=201,
        errors=(400,),
    ),
    Route(
        "DELETE",
        "/api/me/tokens/<token_id>",
        me.token_revoke,
        "Revoke one of your tokens",
        response=Done,
        errors=(404,),
    ),
    Route(
        "POST",
        "/api/session/logout",
        me.logout,
        "Sign out of this browser session",
        body=Empty,
        response=Done,
    ),
    Route(
        "PUT",
        "/api/users/<login>/limits",
        me.user_limits,
        "Admins: set a user's quotas and monthly budget",
        body=Limits,
        response=UserLimitsView,
        errors=(400, 404),
        admin=True,
    ),
    Route(
        "POST",
        "/api/cli-login",
        device_handlers.start,
        "The CLI starts a browser sign-in (RFC 8628 device authorization): a device code for "
        "it, a user code and a page for the person",
        body=StartCliLogin,
        response=CliLoginStarted,
        errors=(400, 429),
        public=True,
    ),
    Route(
        "POST",
        "/api/cli-login/token",
        device_handlers.token,
        "The CLI polls: a new personal API token once approved; otherwise 400 with the code "
        "authorization_pending, slow_down, access_denied or expired_token",
        body=PollCliLogin,
        response=CliLoginToken,
        errors=(400,),
        public=True,
    ),
    Route(
        "GET",
        "/api/cli-login/<user_code>",
        device_handlers.show,
        "A waiting CLI sign-in, by the code its terminal shows",
        response=DeviceRequest,
        errors=(404, 429),
    ),
    Route(
        "POST",
        "/api/cli-login/<user_code>/approve",
        device_handlers.approve,
        "Approve a CLI sign-in as yourself: the CLI receives a token named after its host",
        body=Empty,
        response=CliLoginDecision,
        errors=(404, 409, 429),
    ),
    Route(
        "POST",
        "/api/cli-login/<user_code>/deny",
        device_handlers.deny,
        "Deny a CLI sign-in",
        body=Empty,
        response=CliLoginDecision,
        errors=(404, 409, 429),
    ),
    Route(
        "GET",
        "/auth/github/login",
        auth_handlers.github_login,
        "Start GitHub sign-in",
        errors=(404,),
        public=True,
    ),
    Route(
        "GET",
        "/auth/github/callback",
        auth_handlers.github_callback,
        "Finish GitHub sign-in",
        errors=(400, 401, 404),
        public=True,
    ),
]
