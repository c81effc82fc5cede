"""The Users, Tokens and Sessions ports on Firestore (`google-cloud-firestore`, imported lazily).

Layout:
    users/{user_id}               the user (UserDoc): identity fields, role and limits apart, so
                                  a sign-in refreshing the login never overwrites a role change
    github_users/{github_id}      user_id: the claim that makes a GitHub id map to one user
    api_tokens/{hash}             a personal token (TokenDoc), found by the hash of its value
    sessions/{hash}               a browser session (expires_at: a TTL policy deletes old ones)
    one_time_codes/{hash}/...     login links, OAuth states, device logins (firestore_codes)

Exactly-once, compare-and-set and uniqueness rest on create() preconditions (firestore_claims),
which the emulator honours, not on transaction conflicts, which it does not detect. Queries are
equalities on one or two fields: Firestore's automatic single-field indexes serve them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.accounts import LOCAL_USER_ID, ApiToken, Limits, Session, User
from shared.adapters.firestore_claims import create
from shared.adapters.firestore_codes import FirestoreCodes
from shared.domain import Model, now
from shared.errors import ConfigError, Conflict, NotFound
from shared.gcp_settings import GcpSettings


class UserDoc(Model):
    """users/{id}: `login_lower` for case-insensitive lookups, `seen_at` for a reused login."""

    github_id: int
    login: str
    login_lower: str
    name: str
    avatar_url: str
    admin: bool
    created_at: datetime
    seen_at: datetime
    limits: Limits

    @classmethod
    def of(cls, user: User) -> UserDoc:
        fields = user.model_dump(exclude={"id"})
        return cls(**fields, login_lower=user.login.lower(), seen_at=now())

    def user(self, user_id: str) -> User:
        return User(id=user_id, **self.model_dump(exclude={"login_lower", "seen_at"}))


class TokenDoc(Model):
    """api_tokens/{hash}: the token, with its owner and id as fields for list and revoke."""

    user_id: str
    token_id: str
    created_at: datetime
    token: str  # ApiToken as JSON


class FirestoreAccounts(FirestoreCodes):
    """Implements `shared.ports.Users`, `Tokens` and `Sessions`. Thread-safe (the client is)."""

    def __init__(self, settings: GcpSettings) -> None:
        if not settings.project:
            raise ConfigError("ERRAND_STORE=firestore needs the project: set ERRAND_GCP_PROJECT")
        from google.cloud import firestore

        self._fs = firestore
        self._db: Any = firestore.Client(
            project=settings.project, database=settings.firestore_database
        )

    # ------------------------------------------------------------------------ users

    def ensure_github_user(self, github_id: int, login: str, name: str, avatar_url: str) -> User:
        """The user with this GitHub id, created on first sight (racing first sights make one
        user: the github_users claim decides); login, name and avatar are refreshed."""
        if github_id <= 0:
            raise Conflict(f"GitHub user ids are positive; got {github_id}")
        claim = self._db.collection("github_users").document(str(github_id))
        snapshot = claim.get()
        if not snapshot.exists:
            user = User(github_id=github_id, login=login, name=name, avatar_url=avatar_url)
            self._users().document(user.id).create(UserDoc.of(user).model_dump())
            if create(claim, {"user_id": user.id}):
                return user
            self._users().document(user.id).delete()  # another sign-in made the user first
            snapshot = claim.get()
        user_id = str(snapshot.get("user_id"))
        identity = {"login": login, "name": name, "avatar_url": avatar_url}
        self._users().document(user_id).update(
            {**identity, "login_lower": login.lower(), "seen_at": now()}
        )
        return self.get_user(user_id)

    def ensure_local_user(self, login: str) -> User:
        user = User(id=LOCAL_USER_ID, login=login, name=login, admin=True)
        if create(self._users().document(LOCAL_USER_ID), UserDoc.of(user).model_dump()):
            return user
        return self.get_user(LOCAL_USER_ID)

    def get_user(self, user_id: str) -> User:
        snapshot = self._users().document(user_id).get()
        if not snapshot.exists:
            raise NotFound(f"no user {user_id!r}")
        return UserDoc.model_validate(snapshot.to_dict()).user(user_id)

    def find_user(self, login: str) -> User:
        """By GitHub login, case-insensitively; the most recently seen holder of a reused one."""
        query = self._users().where(filter=self._fs.FieldFilter("login_lower", "==", login.lower()))
        found = [(UserDoc.model_validate(s.to_dict()), s.id) for s in query.stream()]
        if not found:
            raise NotFound(f"no user with login {login!r}; users appear after their first sign-in")
        doc, user_id = max(found, key=lambda f: f[0].seen_at)
        return doc.user(user_id)

    def update_user(self, user: User) -> User:
        """Stores role and limits (identity fields come from GitHub via ensure_github_user)."""
        from google.api_core import exceptions

        try:
            self._users().document(user.id).update(
                {"admin": user.admin, "limits": user.limits.model_dump()}
            )
        except exceptions.NotFound:
            raise NotFound(f"no user {user.id!r}") from None
        return self.get_user(user.id)

    # ------------------------------------------------------------------------ tokens

    def add_token(self, token: ApiToken) -> None:
        doc = TokenDoc(
            user_id=token.user_id,
            token_id=token.id,
            created_at=token.created_at,
            token=token.model_dump_json(),
        )
        if not create(self._db.collection("api_tokens").document(token.hash), doc.model_dump()):
            raise Conflict("a token with this value exists already; create a new one")

    def find_token(self, hash_: str) -> ApiToken:
        """The token with this hash (expired ones included: the caller decides); records when
        it was last used, at most once a minute. Raises NotFound."""
        ref = self._db.collection("api_tokens").document(hash_)
        snapshot = ref.get()
        if not snapshot.exists:
            raise NotFound("no such token")
        token = ApiToken.model_validate_json(TokenDoc.model_validate(snapshot.to_dict()).token)
        used = token.last_used_at
        if used is None or (now() - used).total_seconds() > 60:
            token = token.model_copy(update={"last_used_at": now()})
            ref.update({"token": token.model_dump_json()})
        return token

    def list_tokens(self, user_id: str) -> list[ApiToken]:
        docs = [TokenDoc.model_validate(s.to_dict()) for s in self._tokens_of(user_id).stream()]
        docs.sort(key=lambda d: d.created_at)
        return [ApiToken.model_validate_json(d.token) for d in docs]

    def revoke_token(self, user_id: str, token_id: str) -> None:
        query = self._tokens_of(user_id).where(
            filter=self._fs.FieldFilter("token_id", "==", token_id)
        )
        found = list(query.stream())
        if not found:
            raise NotFound(f"no token {token_id!r}; `errand token list` shows yours")
        for snapshot in found:
            snapshot.reference.delete()

    # ------------------------------------------------------------------------ sessions

    def put_session(self, session: Session, replaces: str = "") -> None:
        """Stores `session`, then deletes the one it `replaces` (rotation): a crash between
        leaves the old one to expire, never a user without a session."""
        sessions = self._db.collection("sessions")
        fields = {"user_id": session.user_id, "expires_at": session.expires_at}
        sessions.document(session.hash).set({**fields, "doc": session.model_dump_json()})
        if replaces and replaces != session.hash:
            sessions.document(replaces).delete()

    def find_session(self, hash_: str) -> Session:
        snapshot = self._db.collection("sessions").document(hash_).get()
        if not snapshot.exists or snapshot.get("expires_at") <= now():
            raise NotFound("no such session")
        return Session.model_validate_json(snapshot.get("doc"))

    def delete_session(self, hash_: str) -> None:
        self._db.collection("sessions").document(hash_).delete()

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------------ helpers

    def _users(self) -> Any:
        return self._db.collection("users")

    def _tokens_of(self, user_id: str) -> Any:
        tokens = self._db.collection("api_tokens")
        return tokens.where(filter=self._fs.FieldFilter("user_id", "==", user_id))
