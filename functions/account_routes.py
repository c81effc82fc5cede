"""The signed-in user's routes and GitHub sign-in, for the route table in functions/handlers.py."""

from __future__ import annotations

from functions import account_handlers as me
from functions import auth_handlers
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
from functions.routes import Route
from functions.schemas import Empty
from shared.accounts import CredentialInfo, Limits

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
