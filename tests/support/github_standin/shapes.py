"""JSON objects shaped like the ones GitHub's REST API documents (the fields clients read,
with GitHub's names and types), built from the stand-in's state."""

from __future__ import annotations

import time
from typing import Any

from tests.support.github_standin.state import LEGACY, Account, Comment, Installation, Pull, State


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Shapes:
    def __init__(self, state: State, api: str, web: str) -> None:
        self.s = state
        self.api = api  # e.g. http://127.0.0.1:PORT/api/v3
        self.web = web  # e.g. http://127.0.0.1:PORT

    def user(self, a: Account) -> dict[str, Any]:
        return {
            "login": a.login,
            "id": a.id,
            "node_id": f"U_{a.id}",
            "avatar_url": f"{self.web}/avatars/{a.login}",
            "url": f"{self.api}/users/{a.login}",
            "html_url": f"{self.web}/{a.login}",
            "type": a.type,
            "site_admin": False,
        }

    def repo(self, full_name: str) -> dict[str, Any]:
        r = self.s.repos[full_name]
        return {
            "id": r.id,
            "node_id": f"R_{r.id}",
            "name": full_name.split("/", 1)[1],
            "full_name": full_name,
            "private": r.private,
            "owner": self.user(r.owner),
            "html_url": f"{self.web}/{full_name}",
            "url": f"{self.api}/repos/{full_name}",
            "clone_url": f"{self.web}/{full_name}.git",
            "default_branch": r.default_branch,
            "visibility": "private" if r.private else "public",
            "fork": False,
            "archived": False,
            "disabled": False,
        }

    def app(self) -> dict[str, Any]:
        owner = Account("octo-org", 1, "Organization")
        return {
            "id": self.s.app_id,
            "slug": self.s.app_slug,
            "node_id": f"A_{self.s.app_id}",
            "client_id": f"Iv1.{self.s.app_id:016x}",
            "owner": self.user(owner),
            "name": self.s.app_slug.replace("-", " ").title(),
            "description": "",
            "external_url": self.web,
            "html_url": f"{self.web}/apps/{self.s.app_slug}",
            "created_at": stamp(0),
            "updated_at": stamp(0),
            "permissions": {
                "contents": "write",
                "issues": "write",
                "pull_requests": "write",
                "metadata": "read",
            },
            "events": ["issues", "issue_comment", "pull_request", "pull_request_review_comment"],
            "installations_count": len(self.s.installations),
        }

    def installation(self, i: Installation) -> dict[str, Any]:
        return {
            "id": i.id,
            "account": self.user(i.account),
            "repository_selection": "selected",
            "access_tokens_url": f"{self.api}/app/installations/{i.id}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{self.web}/settings/installations/{i.id}",
            "app_id": self.s.app_id,
            "app_slug": self.s.app_slug,
            "target_id": i.account.id,
            "target_type": i.account.type,
            "permissions": i.permissions,
            "events": ["issues", "issue_comment", "pull_request", "pull_request_review_comment"],
            "created_at": stamp(0),
            "updated_at": stamp(0),
            "single_file_name": None,
            "suspended_by": None,
            "suspended_at": None,
        }

    def comment(self, c: Comment) -> dict[str, Any]:
        kind = "pull" if (c.repo, c.number) in self.s.pulls else "issues"
        out: dict[str, Any] = {
            "id": c.id,
            "node_id": f"IC_{c.id}",
            "url": f"{self.api}/repos/{c.repo}/issues/comments/{c.id}",
            "html_url": f"{self.web}/{c.repo}/{kind}/{c.number}#issuecomment-{c.id}",
            "issue_url": f"{self.api}/repos/{c.repo}/issues/{c.number}",
            "body": c.body,
            "user": self.user(c.user),
            "created_at": stamp(c.created_at),
            "updated_at": stamp(c.updated_at),
            "author_association": self.association(c.repo, c.user),
            "reactions": self.reactions_summary(c),
        }
        if c.review is not None:
            out.update(c.review)
            out["url"] = f"{self.api}/repos/{c.repo}/pulls/comments/{c.id}"
            out["html_url"] = f"{self.web}/{c.repo}/pull/{c.number}#discussion_r{c.id}"
            out["pull_request_url"] = f"{self.api}/repos/{c.repo}/pulls/{c.number}"
            del out["issue_url"]
        return out

    def reactions_summary(self, c: Comment) -> dict[str, Any]:
        counts = {k: 0 for k in ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes")}
        counts["rocket"] = 0
        for _, content in c.reactions:
            counts[content] = counts.get(content, 0) + 1
        return {"url": f"{self.api}/reactions", "total_count": len(c.reactions), **counts}

    def association(self, repo: str, a: Account) -> str:
        role = self.s.role(repo, a.login)
        if role == "admin" and a.login == self.s.repos[repo].owner.login:
            return "OWNER"
        return "COLLABORATOR" if role else "NONE"

    def pull(self, p: Pull) -> dict[str, Any]:
        base = f"{self.api}/repos/{p.repo}"
        head_sha = self.s.head_sha(p.repo, p.head)
        return {
            "url": f"{base}/pulls/{p.number}",
            "id": p.number * 7919,
            "node_id": f"PR_{p.number}",
            "html_url": f"{self.web}/{p.repo}/pull/{p.number}",
            "diff_url": f"{self.web}/{p.repo}/pull/{p.number}.diff",
            "patch_url": f"{self.web}/{p.repo}/pull/{p.number}.patch",
            "issue_url": f"{base}/issues/{p.number}",
            "comments_url": f"{base}/issues/{p.number}/comments",
            "review_comments_url": f"{base}/pulls/{p.number}/comments",
            "commits_url": f"{base}/pulls/{p.number}/commits",
            "statuses_url": f"{base}/statuses/{head_sha}",
            "number": p.number,
            "state": p.state,
            "locked": False,
            "title": p.title,
            "user": self.user(p.user),
            "body": p.body,
            "labels": [],
            "draft": p.draft,
            "created_at": stamp(p.created_at),
            "updated_at": stamp(p.updated_at),
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "head": self._ref(p.repo, p.head, head_sha),
            "base": self._ref(p.repo, p.base, self.s.head_sha(p.repo, p.base)),
            "author_association": "NONE",
            "merged": False,
            "mergeable": None,
            "comments": sum(
                1 for c in self.s.comments.values() if (c.repo, c.number) == (p.repo, p.number)
            ),
            "review_comments": 0,
            "commits": 1,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        }

    def _ref(self, repo: str, branch: str, sha: str) -> dict[str, Any]:
        r = self.s.repos[repo]
        return {
            "label": f"{r.owner.login}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self.user(r.owner),
            "repo": self.repo(repo),
        }

    def permission(self, repo: str, a: Account) -> dict[str, Any]:
        role = self.s.role(repo, a.login) or "read"
        return {"permission": LEGACY[role], "role_name": role, "user": self.user(a)}

    def label(self, repo: str, name: str) -> dict[str, Any]:
        lid = abs(hash((repo, name))) % 10**9
        return {
            "id": lid,
            "node_id": f"LA_{lid}",
            "url": f"{self.api}/repos/{repo}/labels/{name}",
            "name": name,
            "color": "0e8a16",
            "default": False,
            "description": "",
        }
