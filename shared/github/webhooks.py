"""The GitHub webhook use case: verify, dedupe, decide, act. It never calls GitHub (GitHub
gives up on a delivery after ten seconds): what needs GitHub happens in the stages.

Replies: 202 {"task_id"} when a task was created; 200 with what was done, or {"ignored":
reason}; 200 {"duplicate": true} for a redelivery; 401 for a missing or wrong signature; 400
only for a body that is not a JSON object."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import JsonValue

from shared.domain import TERMINAL, Status, Task
from shared.errors import ErrandError, NotFound
from shared.github import events, signature
from shared.github.events import Command, Ignore, InstallationChange, Ping, Start
from shared.limits import MAX_PROMPT_CHARS
from shared.ports import Store, Users, WebhookLog
from shared.services import ApprovePlan, CreateTask, TaskService

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
WEBHOOK_PATH = "/api/webhooks/github"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, JsonValue]


@dataclass(frozen=True)
class WebhookConfig:
    secret: str
    label: str = "errand"
    auto_approve: bool = False


class GitHubWebhooks:
    def __init__(
        self,
        config: WebhookConfig,
        log: WebhookLog,
        store: Store,
        tasks: TaskService,
        users: Users,
    ) -> None:
        self._config = config
        self._log = log
        self._store = store
        self._tasks = tasks
        self._users = users

    def handle(self, event: str, delivery: str, sig: str, body: bytes) -> Reply:
        if not self._config.secret:
            return _refuse(
                "this Errand has no GitHub webhook secret; its operator must run `errand "
                "github setup` or set ERRAND_GITHUB_WEBHOOK_SECRET"
            )
        if not signature.verify(self._config.secret, body, sig):
            return _refuse(
                "missing or wrong X-Hub-Signature-256: the delivery was not signed with this "
                "Errand's webhook secret"
            )
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict) or not event:
            return Reply(
                400,
                {
                    "error": {
                        "code": "invalid_input",
                        "message": "expected a JSON object body and an X-GitHub-Event header; "
                        "set the webhook's content type to application/json",
                    }
                },
            )
        if delivery and not self._log.claim_delivery(delivery):
            return Reply(200, {"duplicate": True})
        try:
            return self._act(events.interpret(event, payload, self._config.label))
        except ErrandError as exc:
            # our refusal of this trigger (bad prompt, no model...): GitHub must not retry
            return Reply(200, {"ignored": exc.message})
        except BaseException:
            if delivery:
                self._log.release_delivery(delivery)  # a redelivery deserves another try
            raise

    def _act(self, intent: events.Intent) -> Reply:
        if isinstance(intent, Ignore):
            return Reply(200, {"ignored": intent.reason})
        if isinstance(intent, Ping):
            return Reply(200, {"pong": True, "zen": intent.zen})
        if isinstance(intent, InstallationChange):
            return self._installation(intent)
        if isinstance(intent, Command):
            return self._command(intent)
        return self._start(intent)

    def _installation(self, change: InstallationChange) -> Reply:
        record = change.installation
        known = self._log.installation(record.id)
        if change.added or change.removed:
            repos = set(known.repositories if known else []) | set(change.added)
            record = record.model_copy(
                update={
                    "status": known.status if known else "active",
                    "repositories": sorted(repos - set(change.removed)),
                }
            )
        self._log.save_installation(record)
        return Reply(200, {"installation": record.id, "status": record.status})

    def _linked(self, repository: str, number: int) -> list[Task]:
        found = []
        for task_id in self._log.linked_tasks(repository, number):
            try:
                found.append(self._store.get_task(task_id))
            except NotFound:
                continue
        return found

    def _command(self, cmd: Command) -> Reply:
        where = f"{cmd.origin.repository}#{cmd.origin.number}"
        linked = self._linked(cmd.origin.repository, cmd.origin.number)
        if cmd.verb == "approve":
            for task in linked:
                if task.status == Status.PLAN_REVIEW:
                    done = self._tasks.approve_plan(task.id, ApprovePlan())
                    return Reply(200, {"approved": done.id, "status": done.status.value})
                if task.status == Status.DIFF_REVIEW:
                    done = self._tasks.approve_diff(task.id)
                    return Reply(200, {"approved": done.id, "status": done.status.value})
            return Reply(200, {"ignored": f"no task is waiting for approval on {where}"})
        for task in linked:
            if task.status not in TERMINAL:
                done = self._tasks.cancel(task.id)
                return Reply(200, {"cancelled": done.id, "status": done.status.value})
        return Reply(200, {"ignored": f"no task is running on {where}"})

    def _start(self, start: Start) -> Reply:
        origin = start.origin
        # the task belongs to the GitHub user who triggered it (a user record on first sight);
        # the App being installed on the repository vouches for the repository
        owner = self._users.ensure_github_user(origin.sender_id, origin.sender, "", "")
        where = f"{origin.repository}#{origin.number}"
        linked = self._linked(origin.repository, origin.number)
        for task in linked:
            if task.status not in TERMINAL:
                return Reply(
                    200,
                    {
                        "ignored": f"task {task.id} is already working on {where}; wait for it "
                        "or comment `/errand cancel`"
                    },
                )
        parent = next((t for t in linked if t.branch and t.pr_number == origin.number), None)
        if origin.is_pull_request and parent is not None:
            follow = origin.model_copy(update={"follow_up_of": parent.id})
            req = CreateTask(
                repo=parent.repo,
                prompt=follow_up_prompt(start, parent),
                branch=parent.branch,
                model=parent.model,
                auto_approve=True,  # a reviewer's instruction lands as a commit they review
            )
            task = self._tasks.create(
                req, owner, origin=follow, publish_branch=parent.branch, repo_verified=True
            )
        else:
            base = ""
            if origin.is_pull_request:
                if start.head_repo and start.head_repo.lower() != origin.repository.lower():
                    return Reply(
                        200, {"ignored": f"{where} comes from a fork; Errand cannot push there"}
                    )
                base = start.head_ref
            req = CreateTask(
                repo=origin.repository,
                prompt=task_prompt(start),
                branch=base,
                auto_approve=self._config.auto_approve,
            )
            task = self._tasks.create(req, owner, origin=origin, repo_verified=True)
        self._log.link_task(origin.repository, origin.number, task.id)
        return Reply(202, {"task_id": task.id})


def task_prompt(start: Start) -> str:
    """The issue's title leads (it names the branch and the pull request), then its text; a
    comment's instruction comes first, with the issue as its context."""
    o = start.origin
    kind = "pull request" if o.is_pull_request else "issue"
    where = f"GitHub {kind} #{o.number} in {o.repository}"
    text = start.text.strip()
    if start.instruction:
        parts = [start.instruction, "", f"Context, {where}: {start.title}"]
        parts += ["", text] if text else []
    else:
        parts = [start.title or where]
        parts += ["", text] if text else []
        parts += ["", f"({where}.)"]
    return _fit("\n".join(parts))


def follow_up_prompt(start: Start, parent: Task) -> str:
    parts = [start.instruction, ""]
    if start.review is not None:
        r = start.review
        parts += [
            f"This was asked in a review comment on `{r.path}`"
            + (f", line {r.line}" if r.line else "")
            + ". The code it points at:",
            "```diff",
            r.diff_hunk[-4000:],
            "```",
            "",
        ]
    parts += [
        f"This follows up pull request #{parent.pr_number} (branch {parent.branch}), which "
        "Errand opened for this task:",
        parent.prompt[:4000],
    ]
    return _fit("\n".join(parts))


def _fit(text: str) -> str:
    if len(text) <= MAX_PROMPT_CHARS:
        return text
    return text[: MAX_PROMPT_CHARS - 40] + "\n[… truncated by Errand]"


def _refuse(message: str) -> Reply:
    return Reply(401, {"error": {"code": "unauthorized", "message": message}})
