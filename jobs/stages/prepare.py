"""prepare: trusted-side clone, dependency install in the sandbox (egress only), baseline tests."""

from __future__ import annotations

import time
import tomllib

from pydantic import ValidationError

from jobs import feedback
from jobs.agent.context_cache import ContextCache
from jobs.agent.repo_context import list_files
from jobs.context import StageContext
from jobs.stages import check
from jobs.stages.common import describe_counts
from jobs.stages.tests_run import DIFF_EXCLUDES, PrepState, run_suite, state_key
from shared import envcache, paths, safefs, suite_results, testsuite
from shared.domain import EventKind, Model, Stage, Status, TestReport
from shared.errors import StageFailed
from shared.review import MAX_LISTED_FILES, RepoFiles, files_key

DETECT_FILES = (*testsuite.RELEVANT_FILES, *testsuite.REQUIREMENTS)


def run(ctx: StageContext) -> None:
    feedback.check_sender(ctx)  # a task from GitHub: the API confirms who asked
    if ctx.task.status == Status.QUEUED:
        ctx.move(Status.PREPARING)
    ctx.deps.model(
        ctx.task.model, Stage.PLAN.value, task=ctx.task
    )  # a bad model name fails now, not after setup
    settings = ctx.deps.settings
    # a fresh volume with a disk quota; a redelivery after a crash starts over on a new one
    ctx.workspace.parent.mkdir(parents=True, exist_ok=True)
    ctx.deps.volumes.provision(ctx.workspace)
    ctx.log(f"cloning {ctx.task.repo}")
    branch = ctx.deps.forge.clone(ctx.task.repo, ctx.task.base_branch, ctx.repo_dir)
    ctx.save(base_branch=branch)
    ctx.failpoint("prepare.after_clone")

    files: dict[str, str] = {}
    for name in DETECT_FILES:
        text = safefs.read_text(ctx.repo_dir, name)
        if text is not None:
            files[name] = text
    listing = list_files(ctx.repo_dir, limit=5000)
    plan = testsuite.detect(files, listing)
    head = ctx.sandbox("git rev-parse HEAD", timeout_s=60)
    if head.exit_code != 0:
        raise StageFailed(
            "clone_unreadable", f"could not read the cloned commit: {head.output[-500:]}"
        )
    base_sha = head.output.strip().splitlines()[-1]
    warm_context_cache(ctx, base_sha)
    # read what the trusted side relies on before any repository code runs and can rewrite it
    template, config = pr_template(ctx), repo_config(ctx)
    if plan is None:
        ctx.log(f"{check.NO_SUITE_NOTE} ({testsuite.NO_TESTS_MESSAGE})")
        install(ctx, testsuite.install_without_tests(files, listing))
        ctx.failpoint("prepare.after_install")
        check.save_state(ctx, base_sha, snapshot_tree(ctx), template, config.network_during_execute)
        ctx.advance(Status.PLANNING, Stage.PLAN, tests=TestReport(suite_found=False))
        return
    install(ctx, plan.install)
    ctx.failpoint("prepare.after_install")

    run = run_suite(ctx, plan)
    baseline = run.result
    ctx.failpoint("prepare.after_baseline")
    if baseline.timed_out:
        raise StageFailed(
            "tests_timed_out",
            f"the test suite (`{plan.display}`) did not finish within "
            f"{settings.test_timeout_s:.0f} s before any change: fix or skip the hanging tests, "
            "name a faster command in AGENTS.md, or raise ERRAND_TEST_TIMEOUT_S",
        )
    state = PrepState(
        base_sha=base_sha,
        base_tree=snapshot_tree(ctx),
        test_plan=plan,
        baseline=baseline,
        baseline_flaky=run.flaky,
        pr_template=template,
        execute_network=config.network_during_execute,
    )
    ctx.deps.blobs.put(state_key(ctx.task.id), state.model_dump_json().encode(), "application/json")
    counts = suite_results.counts(baseline)
    ctx.emit(EventKind.TEST_RESULTS, {"phase": "baseline", "counts": counts.model_dump()})
    flaky_note = f" ({len(run.flaky)} flaky)" if run.flaky else ""
    ctx.log(f"baseline: {describe_counts(counts)}{flaky_note}")
    tests = TestReport(
        command=plan.display, baseline=counts, baseline_note=baseline.note, flaky=run.flaky
    )
    hand_on(ctx, tests)


def hand_on(ctx: StageContext, tests: TestReport) -> None:
    """To planning, or, for a retried task, to where it stopped (with the plan it had)."""
    listed = list_files(ctx.repo_dir, limit=MAX_LISTED_FILES + 1)
    files = RepoFiles(
        files=listed[:MAX_LISTED_FILES], complete=len(listed) <= MAX_LISTED_FILES
    )  # an edited plan is checked against these when it is approved
    ctx.deps.blobs.put(files_key(ctx.task.id), files.model_dump_json().encode(), "application/json")
    resume = ctx.task.resume_at if ctx.task.plan is not None else None
    if resume == Status.EXECUTING:
        ctx.log("workspace ready again: executing the approved plan")
        ctx.advance(Status.EXECUTING, Stage.EXECUTE, tests=tests, resume_at=None)
    elif resume == Status.PLAN_REVIEW:
        ctx.move(Status.PLAN_REVIEW, tests=tests, resume_at=None)
        ctx.log(f"plan ready: approve it with `errand task approve {ctx.task.id} --plan`")
    else:
        ctx.advance(Status.PLANNING, Stage.PLAN, tests=tests, resume_at=None)


def warm_context_cache(ctx: StageContext, commit: str) -> None:
    """Stores what retrieval needs of the checkout while it is pristine (no repository code has
    run yet), so that plan and execute read it instead of parsing the whole tree again."""
    started = time.perf_counter()
    cache = ContextCache(paths.context_cache(ctx.deps.settings.home))
    checkout = cache.refresh(ctx.task.repo, commit, ctx.repo_dir)
    ctx.log(
        f"repository context: {len(checkout.texts)} files, {checkout.computed} read afresh "
        f"({time.perf_counter() - started:.1f} s)"
    )


def install(ctx: StageContext, commands: list[str]) -> None:
    """Restores the dependency environment from the cache, or installs it in the sandbox with
    egress network and caches it before any test runs."""
    key_files = {}
    for name in envcache.KEY_FILES:
        text = safefs.read_text(ctx.repo_dir, name, max_bytes=20_000_000)
        if text is not None:
            key_files[name] = text
    key = envcache.cache_key(ctx.task.repo, key_files, commands, ctx.deps.runtime_version)
    cache = ctx.deps.env_cache
    if cache.restore(key, ctx.workspace):
        ctx.log("dependencies restored from the environment cache")
        return
    for command in commands:
        result = ctx.sandbox(
            command,
            network=True,
            timeout_s=ctx.deps.settings.install_timeout_s,
            cwd="/workspace/repo",
        )
        if result.exit_code != 0:
            why = (
                f"did not finish within {ctx.deps.settings.install_timeout_s:g} s (raise "
                "ERRAND_INSTALL_TIMEOUT_S if the install is just slow)"
                if result.timed_out
                else f"exited with {result.exit_code}"
            )
            raise StageFailed(
                "install_failed",
                f"installing dependencies failed: `{command}` {why}:\n"
                + ctx.scrub(result.output[-1500:]),
            )
    if commands:
        try:
            cache.save(key, ctx.workspace)
        except envcache.EnvCacheError as exc:
            ctx.log(f"dependencies not cached: {exc.message}")


PR_TEMPLATES = (
    ".github/PULL_REQUEST_TEMPLATE.md",
    ".github/pull_request_template.md",
    "PULL_REQUEST_TEMPLATE.md",
    "pull_request_template.md",
    "docs/PULL_REQUEST_TEMPLATE.md",
)


def pr_template(ctx: StageContext) -> str:
    for name in PR_TEMPLATES:
        text = safefs.read_text(ctx.repo_dir, name, max_bytes=100_000)
        if text:
            return text
    return ""


class RepoConfig(Model):
    """`.errand.toml` at the repository root, e.g.

    [sandbox]
    network_during_execute = true   # off by default: egress only, never host services
    """

    network_during_execute: bool = False


def repo_config(ctx: StageContext) -> RepoConfig:
    text = safefs.read_text(ctx.repo_dir, ".errand.toml", max_bytes=100_000)
    if not text:
        return RepoConfig()
    try:
        data = tomllib.loads(text)
        return RepoConfig.model_validate(data.get("sandbox", {}))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise StageFailed(
            "bad_repo_config",
            f".errand.toml is not valid: {exc}; the only setting is "
            "[sandbox] network_during_execute = true|false",
        ) from None


def snapshot_tree(ctx: StageContext) -> str:
    """Records the working tree as the baseline of the agent's diff (inside the sandbox: the
    trusted side runs no git on a tree repository code has touched)."""
    result = ctx.sandbox(f"git add -A -- . {DIFF_EXCLUDES} && git write-tree", timeout_s=120)
    tree = result.output.strip().splitlines()[-1] if result.output.strip() else ""
    if result.exit_code != 0 or len(tree) not in (40, 64) or not _is_hex(tree):
        raise StageFailed(
            "snapshot_failed", f"could not record the prepared tree: {result.output[-500:]}"
        )
    return tree


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
