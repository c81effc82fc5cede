"""The REST endpoints the stand-in speaks, with GitHub's status codes and permission rules."""

from __future__ import annotations

import time
from typing import Any

from tests.support.github_standin.server import Auth, HttpError, Request, Router
from tests.support.github_standin.shapes import Shapes, stamp
from tests.support.github_standin.state import Comment, Pull, State, allows

REACTIONS = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}


def routes(state: State, shapes: Shapes, auth: Auth) -> Router:
    r = Router()
    s = state

    def repo_of(req: Request) -> str:
        name = f"{req.args['owner']}/{req.args['repo']}"
        if name not in s.repos:
            raise HttpError(404, "Not Found")
        return name

    def number(req: Request) -> int:
        try:
            return int(req.args["number"])
        except ValueError:
            raise HttpError(404, "Not Found") from None

    # ------------------------------------------------------------------ the App (JWT)

    def get_app(req: Request) -> tuple[int, Any]:
        auth.app(req)
        return 200, shapes.app()

    def repo_installation(req: Request) -> tuple[int, Any]:
        auth.app(req)
        name = f"{req.args['owner']}/{req.args['repo']}"
        for inst in s.installations.values():
            if name in inst.repositories:
                return 200, shapes.installation(inst)
        raise HttpError(404, "Not Found")

    def get_installation(req: Request) -> tuple[int, Any]:
        auth.app(req)
        inst = s.installations.get(int(req.args["id"]))
        if inst is None:
            raise HttpError(404, "Not Found")
        return 200, shapes.installation(inst)

    def access_token(req: Request) -> tuple[int, Any]:
        auth.app(req)
        inst = s.installations.get(int(req.args["id"]))
        if inst is None:
            raise HttpError(404, "Not Found")
        if inst.suspended:
            raise HttpError(403, "This installation has been suspended")
        body = req.json()
        owner = inst.account.login
        names = [f"{owner}/{n}" for n in body.get("repositories") or []]
        if not all(n in inst.repositories for n in names):
            raise HttpError(
                422,
                "There is at least one repository that does not exist or is not accessible "
                "to the parent installation.",
            )
        permissions = body.get("permissions") or dict(inst.permissions)
        if not allows(inst.permissions, permissions):
            raise HttpError(422, "The permissions requested are not granted to this installation.")
        token = s.mint(inst.id, names or list(inst.repositories), permissions)
        return 201, {
            "token": token.value,
            "expires_at": stamp(token.expires_at),
            "permissions": permissions,
            "repository_selection": "selected" if names else "all",
            "repositories": [shapes.repo(n) for n in token.repositories],
        }

    def conversion(req: Request) -> tuple[int, Any]:
        """The last step of the manifest flow: no authentication, the code is the secret."""
        manifest = s.manifests.pop(req.args["code"], None)
        if manifest is None:
            raise HttpError(404, "Not Found")
        return 201, {
            **shapes.app(),
            "name": manifest.get("name", s.app_slug),
            "pem": s.private_key_pem,
            "webhook_secret": s.webhook_secret,
            "client_id": f"Iv1.{s.app_id:016x}",
            "client_secret": "client-secret-not-used",
        }

    def revoke(req: Request) -> tuple[int, Any]:
        """An installation token ends itself (DELETE /installation/token): 204."""
        token = auth.installation_token(req)
        with s.lock:
            token.expires_at = 0.0  # kept in the list of minted tokens, useless from now on
        return 204, None

    r.add("DELETE", "/installation/token", revoke)
    r.add("POST", "/app-manifests/{code}/conversions", conversion)
    r.add("GET", "/app", get_app)
    r.add("GET", "/repos/{owner}/{repo}/installation", repo_installation)
    r.add("GET", "/app/installations/{id}", get_installation)
    r.add("POST", "/app/installations/{id}/access_tokens", access_token)

    # ------------------------------------------------------------------ repositories

    def get_repo(req: Request) -> tuple[int, Any]:
        name = repo_of(req)
        auth.token(req, name, {"metadata": "read"})
        return 200, shapes.repo(name)

    def permission(req: Request) -> tuple[int, Any]:
        name = repo_of(req)
        auth.token(req, name, {"metadata": "read"})
        login = req.args["user"]
        if login == s.repos[name].owner.login:
            return 200, shapes.permission(name, s.repos[name].owner)
        if login not in s.repos[name].collaborators:
            raise HttpError(404, f"{login} is not a user")
        from tests.support.github_standin.state import Account

        return 200, shapes.permission(name, Account(login, abs(hash(login)) % 10**7))

    r.add("GET", "/repos/{owner}/{repo}", get_repo)
    r.add("GET", "/repos/{owner}/{repo}/collaborators/{user}/permission", permission)

    # ------------------------------------------------------------------ pulls

    def list_pulls(req: Request) -> tuple[int, Any]:
        name = repo_of(req)
        auth.token(req, name, {"pull_requests": "read"})
        head = req.param("head")
        state_ = req.param("state", "open")
        found = [
            p
            for p in s.pulls.values()
            if p.repo == name
            and (state_ == "all" or p.state == state_)
            and (not head or f"{s.repos[name].owner.login}:{p.head}" == head)
        ]
        return 200, [shapes.pull(p) for p in sorted(found, key=lambda p: -p.number)]

    def create_pull(req: Request) -> tuple[int, Any]:
        name = repo_of(req)
        token = auth.token(req, name, {"pull_requests": "write"})
        body = req.json()
        for field in ("title", "head", "base"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise HttpError(422, f"Validation Failed: {field} is missing")
        head = body["head"].split(":", 1)[-1]
        if s.head_sha(name, head) == "0" * 40:
            raise HttpError(422, f"Validation Failed: head {head!r} does not exist")
        if s.head_sha(name, body["base"]) == "0" * 40:
            raise HttpError(422, f"Validation Failed: base {body['base']!r} does not exist")
        for p in s.pulls.values():
            if p.repo == name and p.head == head and p.state == "open":
                raise HttpError(
                    422, f"Validation Failed: A pull request already exists for {head}."
                )
        n = s.next_number(name)
        pull = Pull(
            repo=name,
            number=n,
            title=body["title"],
            body=body.get("body") or "",
            head=head,
            base=body["base"],
            draft=bool(body.get("draft")),
            user=s.bot,
        )
        del token
        with s.lock:
            s.pulls[(name, n)] = pull
        return 201, shapes.pull(pull)

    def pull_of(req: Request) -> Pull:
        name = repo_of(req)
        pull = s.pulls.get((name, number(req)))
        if pull is None:
            raise HttpError(404, "Not Found")
        return pull

    def get_pull(req: Request) -> tuple[int, Any]:
        auth.token(req, repo_of(req), {"pull_requests": "read"})
        return 200, shapes.pull(pull_of(req))

    def update_pull(req: Request) -> tuple[int, Any]:
        auth.token(req, repo_of(req), {"pull_requests": "write"})
        pull = pull_of(req)
        body = req.json()
        for field in ("title", "body", "state", "base"):
            if field in body and isinstance(body[field], str):
                setattr(pull, field, body[field])
        pull.updated_at = time.time()
        return 200, shapes.pull(pull)

    r.add("GET", "/repos/{owner}/{repo}/pulls", list_pulls)
    r.add("POST", "/repos/{owner}/{repo}/pulls", create_pull)
    r.add("GET", "/repos/{owner}/{repo}/pulls/{number}", get_pull)
    r.add("PATCH", "/repos/{owner}/{repo}/pulls/{number}", update_pull)

    # ------------------------------------------------------------------ issues and comments

    def conversation(req: Request, level: str) -> tuple[str, int]:
        """Issue comments on a pull request also accept the pull_requests permission."""
        name, n = repo_of(req), number(req)
        if (name, n) not in s.issues and (name, n) not in s.pulls:
            raise HttpError(404, "Not Found")
        kind = "pull_requests" if (name, n) in s.pulls else "issues"
        try:
            auth.token(req, name, {"issues": level})
        except HttpError as exc:
            if exc.status != 403 or kind != "pull_requests":
                raise
            auth.token(req, name, {"pull_requests": level})
        return name, n

    def list_comments(req: Request) -> tuple[int, Any]:
        name, n = conversation(req, "read")
        found = sorted(
            (c for c in s.comments.values() if (c.repo, c.number) == (name, n)),
            key=lambda c: c.id,
        )
        per_page = min(100, int(req.param("per_page", "30")))
        page = int(req.param("page", "1"))
        chunk = found[(page - 1) * per_page : page * per_page]
        link = ""
        if page * per_page < len(found):
            nxt = f"{shapes.api}/repos/{name}/issues/{n}/comments?per_page={per_page}"
            link = f'<{nxt}&page={page + 1}>; rel="next"'
        return 200, ([shapes.comment(c) for c in chunk], link)

    def create_comment(req: Request) -> tuple[int, Any]:
        name, n = conversation(req, "write")
        text = req.json().get("body")
        if not isinstance(text, str) or not text:
            raise HttpError(422, "Validation Failed: body is missing")
        now = time.time()
        c = Comment(s.next_id(), name, n, text, s.bot, now, now)
        with s.lock:
            s.comments[c.id] = c
        return 201, shapes.comment(c)

    def comment_of(req: Request, review: bool = False) -> Comment:
        name = repo_of(req)
        table = s.review_comments if review else s.comments
        c = table.get(int(req.args["id"]))
        if c is None or c.repo != name:
            raise HttpError(404, "Not Found")
        return c

    def get_comment(req: Request) -> tuple[int, Any]:
        c = comment_of(req)
        auth.token(req, c.repo, {"issues": "read"})
        return 200, shapes.comment(c)

    def edit_comment(req: Request) -> tuple[int, Any]:
        c = comment_of(req)
        auth.token(req, c.repo, {"issues": "write"})
        if c.user.login != s.bot.login:
            raise HttpError(403, "Resource not accessible by integration")
        text = req.json().get("body")
        if not isinstance(text, str) or not text:
            raise HttpError(422, "Validation Failed: body is missing")
        c.body, c.updated_at = text, time.time()
        return 200, shapes.comment(c)

    def react(req: Request, review: bool) -> tuple[int, Any]:
        c = comment_of(req, review)
        auth.token(req, c.repo, {"pull_requests" if review else "issues": "write"})
        content = req.json().get("content")
        if content not in REACTIONS:
            raise HttpError(422, "Validation Failed: content is not a valid reaction")
        entry = (s.bot.login, content)
        status = 200 if entry in c.reactions else 201  # GitHub: 200 when it already exists
        if status == 201:
            c.reactions.append(entry)
        rid = abs(hash((c.id, content))) % 10**9
        return status, {
            "id": rid,
            "node_id": f"REA_{rid}",
            "user": shapes.user(s.bot),
            "content": content,
            "created_at": stamp(time.time()),
        }

    def get_issue(req: Request) -> tuple[int, Any]:
        name, n = conversation(req, "read")
        issue = s.issues.get((name, n))
        if issue is None:
            raise HttpError(404, "Not Found")
        return 200, {
            "number": n,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "user": shapes.user(issue.user),
            "labels": [shapes.label(name, label) for label in issue.labels],
            "html_url": f"{shapes.web}/{name}/issues/{n}",
        }

    def remove_label(req: Request) -> tuple[int, Any]:
        name, n = conversation(req, "write")
        issue = s.issues.get((name, n))
        if issue is None or req.args["label"] not in issue.labels:
            raise HttpError(404, "Label does not exist")
        issue.labels.remove(req.args["label"])
        return 200, [shapes.label(name, label) for label in issue.labels]

    r.add("GET", "/repos/{owner}/{repo}/issues/{number}", get_issue)
    r.add("GET", "/repos/{owner}/{repo}/issues/{number}/comments", list_comments)
    r.add("POST", "/repos/{owner}/{repo}/issues/{number}/comments", create_comment)
    r.add("GET", "/repos/{owner}/{repo}/issues/comments/{id}", get_comment)
    r.add("PATCH", "/repos/{owner}/{repo}/issues/comments/{id}", edit_comment)
    r.add("DELETE", "/repos/{owner}/{repo}/issues/{number}/labels/{label}", remove_label)
    r.add(
        "POST",
        "/repos/{owner}/{repo}/issues/comments/{id}/reactions",
        lambda req: react(req, False),
    )
    r.add(
        "POST",
        "/repos/{owner}/{repo}/pulls/comments/{id}/reactions",
        lambda req: react(req, True),
    )
    return r
