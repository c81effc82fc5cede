"""What a GitHub webhook delivery asks of Errand, decided from its payload alone. Pure: no IO.

Payloads are GitHub's format, read tolerantly: the fields used here are required where they
matter, everything else is ignored, and a payload missing what a trigger needs is ignored with
a reason (never an error)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.domain import GitHubInstallation, GitHubOrigin

COMMAND = "/errand"
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
INSTALLATION_STATUS = {
    "created": "active",
    "unsuspend": "active",
    "new_permissions_accepted": "active",
    "suspend": "suspended",
    "deleted": "deleted",
}


@dataclass(frozen=True)
class Ignore:
    reason: str


@dataclass(frozen=True)
class Ping:
    zen: str


@dataclass(frozen=True)
class InstallationChange:
    installation: GitHubInstallation
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Review:
    """Where a review comment points: the model is given the file, the line and the hunk."""

    path: str
    line: int
    diff_hunk: str


@dataclass(frozen=True)
class Start:
    origin: GitHubOrigin
    title: str  # the or pull request's
    text: str  # its body
    instruction: str  # what the comment asked ('' for a label)
    head_ref: str = ""  # a pull request's branch, when the payload says
    head_repo: str = ""  # the repository that branch lives in (a fork's differs)
    review: Review | None = None


@dataclass(frozen=True)
class Command:
    origin: GitHubOrigin
    verb: str  # approve | cancel


Intent = Ignore | Ping | InstallationChange | Start | Command


def interpret(event: str, payload: dict[str, Any], label: str) -> Intent:
    action = _str(payload, "action")
    if event == "ping":
        return Ping(_str(payload, "zen"))
    if event in ("installation", "installation_repositories"):
        return _installation(event, action, payload)
    if event not in ("issues", "pull_request", "issue_comment", "pull_request_review_comment"):
        return Ignore(f"Errand does not act on {event} events")
    sender = _dict(payload, "sender")
    if sender.get("type") == "Bot":
        return Ignore("events sent by apps and bots do not start tasks")
    repo = _str(_dict(payload, "repository"), "full_name")
    installation = _int(_dict(payload, "installation"), "id")
    if not repo or not installation or not _str(sender, "login"):
        return Ignore(f"the {event} payload lacks its repository, installation or sender")
    base = {
        "installation_id": installation,
        "repository": repo,
        "sender": _str(sender, "login"),
        "sender_id": _int(sender, "id"),
    }
    if event in ("issues", "pull_request"):
        return _labeled(event, action, payload, label, base)
    if action != "created":
        return Ignore(f"{event}.{action} is not a trigger (only new comments are)")
    return _comment(event, payload, base)


def _labeled(
    event: str, action: str, payload: dict[str, Any], label: str, base: dict[str, Any]
) -> Intent:
    if action != "labeled":
        return Ignore(f"{event}.{action} is not a trigger (labelling with '{label}' is)")
    name = _str(_dict(payload, "label"), "name")
    if name.lower() != label.lower():
        return Ignore(f"the label '{name}' is not the trigger label '{label}'")
    thing = _dict(payload, "issue" if event == "issues" else "pull_request")
    number = _int(thing, "number")
    if not number:
        return Ignore(f"the {event} payload has no number")
    is_pr = event == "pull_request" or "pull_request" in thing
    head = _dict(thing, "head")
    return Start(
        origin=GitHubOrigin(number=number, is_pull_request=is_pr, trigger="label", **base),
        title=_str(thing, "title"),
        text=_str(thing, "body"),
        instruction="",
        head_ref=_str(head, "ref"),
        head_repo=_str(_dict(head, "repo"), "full_name"),
    )


def _comment(event: str, payload: dict[str, Any], base: dict[str, Any]) -> Intent:
    comment = _dict(payload, "comment")
    body = _str(comment, "body").strip()
    if not body.lower().startswith(COMMAND) or body[len(COMMAND) : len(COMMAND) + 1].isalnum():
        return Ignore(f"the comment does not start with {COMMAND}")
    association = _str(comment, "author_association")
    if association not in TRUSTED_ASSOCIATIONS:
        return Ignore(
            f"{base['sender']} is {association or 'not associated'} with {base['repository']}; "
            "only owners, members and collaborators can ask Errand"
        )
    review = event == "pull_request_review_comment"
    thing = _dict(payload, "pull_request" if review else "issue")
    number = _int(thing, "number")
    comment_id = _int(comment, "id")
    if not number or not comment_id:
        return Ignore(f"the {event} payload lacks the issue number or the comment id")
    origin = GitHubOrigin(
        number=number,
        is_pull_request=review or "pull_request" in thing,
        comment_id=comment_id,
        review_comment=review,
        trigger="review_comment" if review else "comment",
        **base,
    )
    instruction = body[len(COMMAND) :].strip()
    verb = instruction.lower().rstrip(".!")
    if verb in ("approve", "cancel"):
        return Command(origin, verb)
    if not instruction:
        return Ignore(f"'{COMMAND}' needs an instruction, 'approve' or 'cancel'")
    head = _dict(thing, "head")
    where = None
    if review:
        line = _int(comment, "line") or _int(comment, "original_line")
        where = Review(_str(comment, "path"), line, _str(comment, "diff_hunk"))
    return Start(
        origin=origin,
        title=_str(thing, "title"),
        text=_str(thing, "body"),
        instruction=instruction,
        head_ref=_str(head, "ref"),
        head_repo=_str(_dict(head, "repo"), "full_name"),
        review=where,
    )


def _installation(event: str, action: str, payload: dict[str, Any]) -> Intent:
    inst = _dict(payload, "installation")
    number = _int(inst, "id")
    if not number:
        return Ignore(f"the {event} payload has no installation id")
    account = _str(_dict(inst, "account"), "login")

    def names(key: str) -> list[str]:
        items = payload.get(key)
        if not isinstance(items, list):
            return []
        return [str(r["full_name"]) for r in items if isinstance(r, dict) and r.get("full_name")]

    if event == "installation":
        if action not in INSTALLATION_STATUS:
            return Ignore(f"installation.{action} changes nothing Errand keeps")
        status = INSTALLATION_STATUS[action]
        if status == "active" and inst.get("suspended_at"):
            status = "suspended"
        record = GitHubInstallation(
            id=number, account=account, status=status, repositories=names("repositories")
        )
        return InstallationChange(record)
    if action not in ("added", "removed"):
        return Ignore(f"installation_repositories.{action} changes nothing Errand keeps")
    record = GitHubInstallation(id=number, account=account)
    return InstallationChange(record, names("repositories_added"), names("repositories_removed"))


def _dict(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
