"""Forge over plain git repositories: a change request is a branch pushed to the repository.

Every git command runs with a fixed environment: no system or global configuration, no hooks,
no prompts, only the file/git/ssh/http(s) transports. Publishing never touches a working tree:
the patch is applied to an index of a fresh bare clone (`git apply --cached`), so checkout
filters, hooks and fsmonitor have nothing to run on, whatever the patch or the workspace holds.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shared.errors import ForgeError, InvalidInput
from shared.ports import ChangeRequest

IDENTITY_NAME = "Errand"
IDENTITY_EMAIL = "errand@localhost"
DEFAULT_SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Options on every git command line: hooks and fsmonitor are programs git would run for us.
SAFE_OPTIONS = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")
# No templates: nothing (sample hooks included) is copied into a new repository. --no-local: a
# clone of a local path would otherwise hard-link the user's object files, and the sandbox,
# root on its own files, could make one writable and corrupt the user's repository through it.
_CLONE = ("clone", "--quiet", "--no-local", "--template=", "--single-branch")
_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?[^/:\s]+:")
_MAX_LISTED = 20
_URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)


def strip_credentials(url: str) -> str:
    """`url` without a user name or password (`https://u:p@host/r` → `https://host/r`).
    Paths and scp-like `user@host:path` addresses (whose user is not a secret) are returned
    unchanged."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class _Source:
    arg: str  # what git is given (may hold credentials)
    display: str  # what people are shown (never holds credentials)


@dataclass(frozen=True)
class _Refs:
    default: str | None
    heads: dict[str, str]  # branch name -> commit id


def _is_git_repo(path: Path) -> bool:
    if (path / ".git").exists():
        return True
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _locate(repo: str) -> _Source:
    repo = repo.strip()
    if not repo:
        raise InvalidInput("no repository given — pass a path to a git repository or a git URL")
    display = strip_credentials(repo)
    if "://" in repo:
        parts = urlsplit(repo)
        if parts.scheme == "file":
            _check_local(Path(parts.path), display)
        return _Source(repo, display)
    path = Path(repo)
    if path.exists() or not _SCP_LIKE.match(repo):
        _check_local(path, display)
        absolute = str(path.resolve())
        return _Source(absolute, absolute)
    return _Source(repo, display)


def _check_local(path: Path, display: str) -> None:
    if not path.exists():
        raise InvalidInput(
            f"repository '{display}' does not exist — pass a path to a git repository or a git URL"
        )
    if not path.is_dir():
        raise InvalidInput(
            f"'{display}' is a file, not a git repository — pass the repository's directory"
        )
    if not _is_git_repo(path):
        raise InvalidInput(
            f"'{display}' is a directory but not a git repository — run `git init` there or "
            "pass the repository root"
        )


class LocalGitForge:
    """Implements shared.ports.Forge for local repositories (or any URL git reaches without
    asking for a password). `publish` pushes the branch; there is no pull request, so the
    change request's URL is `<repo>#<branch>`.

    Safe to use from several threads: every call works in its own directories."""

    def __init__(
        self,
        *,
        git: str = "git",
        timeout_s: float = 600.0,
        search_path: str = DEFAULT_SEARCH_PATH,
        tmp_dir: Path | None = None,
    ) -> None:
        self._git = git
        self._timeout_s = timeout_s
        self._tmp_dir = tmp_dir
        self._env = {
            "PATH": search_path,
            "HOME": "/nonexistent",
            "XDG_CONFIG_HOME": "/nonexistent",
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_ATTR_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": "file:git:ssh:http:https",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
            "GIT_AUTHOR_NAME": IDENTITY_NAME,
            "GIT_AUTHOR_EMAIL": IDENTITY_EMAIL,
            "GIT_COMMITTER_NAME": IDENTITY_NAME,
            "GIT_COMMITTER_EMAIL": IDENTITY_EMAIL,
        }

    # ------------------------------------------------------------------ Forge

    def clone(self, repo: str, branch: str, dest: Path) -> str:
        source = _locate(repo)
        resolved = self._resolve_branch(source, branch)
        self._run(source, *_CLONE, "--branch", resolved, "--", source.arg, str(dest))
        # The workspace never pushes; keeping the remote (without credentials) still lets the
        # agent see where the code came from.
        in_dest = str(dest / ".git")
        self._run(source, "remote", "set-url", "origin", source.display, git_dir=in_dest)
        # Inside the sandbox there is no global config: give commits made there an identity.
        self._run(source, "config", "user.name", IDENTITY_NAME, git_dir=in_dest)
        self._run(source, "config", "user.email", IDENTITY_EMAIL, git_dir=in_dest)
        return resolved

    def publish(
        self,
        repo: str,
        base_branch: str,
        branch: str,
        patch: str,
        commit_message: str,
        title: str,
        body: str,
    ) -> ChangeRequest:
        """Commits `patch` on top of `base_branch` and force-pushes it as `branch` (with a lease:
        the push fails if someone else moved `branch` meanwhile).

        `patch` is `git diff --binary` output; text that is not UTF-8 must have been decoded
        with errors="surrogateescape" to round-trip. A local repository has no place for a pull
        request's `title`; `body` becomes the commit message's last paragraph unless the
        message already contains it."""
        if not patch.strip():
            raise InvalidInput("the change produced no diff — nothing to publish")
        if not commit_message.strip():
            raise InvalidInput("the commit message is empty — pass a Conventional Commit message")
        source = _locate(repo)
        self._check_branch_name(branch)
        refs = self._refs(source)
        base = self._resolve_branch(source, base_branch, refs)
        if branch == base:
            raise InvalidInput(
                f"refusing to publish onto the base branch '{base}' — choose another branch name"
            )
        message = _full_message(commit_message, body)
        with tempfile.TemporaryDirectory(prefix="errand-publish-", dir=self._tmp_dir) as tmp:
            gitdir = str(Path(tmp) / "repo.git")
            self._run(source, *_CLONE, "--bare", "--branch", base, "--", source.arg, gitdir)
            base_commit, tree = self._tree(source, Path(tmp), gitdir, base, patch)
            done = self._published(source, gitdir, refs.heads.get(branch, ""), base_commit, tree)
            if done:  # a redelivered publish: the same change is already there
                return ChangeRequest(branch=branch, url=f"{source.display}#{branch}", commit=done)
            commit_tree = ["commit-tree", tree, "-p", base_commit, "-F", "-"]
            commit = self._run(source, *commit_tree, git_dir=gitdir, input_text=message)
            lease = f"--force-with-lease=refs/heads/{branch}:{refs.heads.get(branch, '')}"
            target = f"{commit}:refs/heads/{branch}"
            pushed = self._call(["push", "--quiet", lease, "origin", target], git_dir=gitdir)
            if pushed.returncode != 0:
                raise ForgeError(
                    f"could not push branch '{branch}' to {source.display}: "
                    f"{_reason(pushed.stderr)} — if the branch moved meanwhile, retry"
                )
        return ChangeRequest(branch=branch, url=f"{source.display}#{branch}", commit=commit)

    def _tree(
        self, source: _Source, work: Path, gitdir: str, base: str, patch: str
    ) -> tuple[str, str]:
        """Applies the patch to a private index (no working tree: nothing is checked out, so
        no filter or hook can run); returns the base commit and the new tree."""
        index = {"GIT_INDEX_FILE": str(work / "index")}
        base_commit = self._run(source, "rev-parse", f"{base}^{{commit}}", git_dir=gitdir)
        base_tree = self._run(source, "rev-parse", f"{base_commit}^{{tree}}", git_dir=gitdir)
        self._run(source, "read-tree", base_commit, git_dir=gitdir, extra_env=index)
        patch_file = work / "change.patch"
        patch_file.write_bytes(patch.encode("utf-8", errors="surrogateescape"))
        apply = ["apply", "--cached", "--binary", "--whitespace=nowarn", str(patch_file)]
        applied = self._call(apply, git_dir=gitdir, extra_env=index)
        if applied.returncode != 0:
            raise ForgeError(_apply_failure(applied.stderr, base, source.display))
        tree = self._run(source, "write-tree", git_dir=gitdir, extra_env=index)
        if tree == base_tree:
            raise InvalidInput("the change produced no diff — nothing to publish")
        return base_commit, tree

    def _published(
        self, source: _Source, gitdir: str, tip: str, base_commit: str, tree: str
    ) -> str:
        """The branch's tip when it already is this change (one commit with this tree on this
        base), else ''. Publishing twice must not make a second commit or a second push."""
        if not tip:
            return ""
        fetched = self._call(["fetch", "--quiet", "origin", tip], git_dir=gitdir)
        if fetched.returncode != 0:
            return ""
        shown = self._call(["show", "-s", "--format=%T %P", tip], git_dir=gitdir)
        return tip if shown.stdout.split() == [tree, base_commit] else ""

    # ------------------------------------------------------------------ helpers

    def _refs(self, source: _Source) -> _Refs:
        out = self._run(source, "ls-remote", "--symref", "--", source.arg, "HEAD", "refs/heads/*")
        default: str | None = None
        heads: dict[str, str] = {}
        for line in out.splitlines():
            left, _, name = line.partition("\t")
            if left.startswith("ref: ") and name == "HEAD":
                default = left.removeprefix("ref: ").removeprefix("refs/heads/")
            elif name.startswith("refs/heads/"):
                heads[name.removeprefix("refs/heads/")] = left
        return _Refs(default if default in heads else None, heads)

    def _resolve_branch(self, source: _Source, branch: str, refs: _Refs | None = None) -> str:
        refs = refs or self._refs(source)
        if not refs.heads:
            raise InvalidInput(
                f"repository '{source.display}' has no commits yet — commit something "
                "(e.g. `git commit --allow-empty -m init`) and retry"
            )
        available = ", ".join(sorted(refs.heads)[:_MAX_LISTED])
        if not branch:
            if refs.default is None:
                raise InvalidInput(
                    f"repository '{source.display}' has no default branch (its HEAD points to "
                    f"no branch) — name the branch to use; available: {available}"
                )
            return refs.default
        if branch not in refs.heads:
            raise InvalidInput(
                f"branch '{branch}' not found in {source.display}; available: {available}"
            )
        return branch

    def _check_branch_name(self, branch: str) -> None:
        valid = not branch.startswith("-") and (
            self._call(["check-ref-format", f"refs/heads/{branch}"]).returncode == 0
        )
        if not branch or not valid:
            raise InvalidInput(
                f"'{branch}' is not a valid branch name — use letters, digits and '-', '_', "
                "'/' or '.', without spaces, '..' or a leading '-'"
            )

    def _call(
        self,
        args: list[str],
        *,
        git_dir: str | None = None,
        extra_env: dict[str, str] | None = None,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        where = ["--git-dir", git_dir] if git_dir else []
        try:
            return subprocess.run(
                [self._git, *SAFE_OPTIONS, *where, *args],
                env={**self._env, **(extra_env or {})},
                input=input_text,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self._timeout_s,
                check=False,
                stdin=None if input_text is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise ForgeError(
                f"git {args[0]} took longer than {self._timeout_s:.0f} s — check the network "
                "and the repository's size"
            ) from exc
        except FileNotFoundError as exc:
            raise ForgeError(f"git was not found ('{self._git}') — install git") from exc

    def _run(
        self,
        source: _Source,
        *args: str,
        git_dir: str | None = None,
        extra_env: dict[str, str] | None = None,
        input_text: str | None = None,
    ) -> str:
        done = self._call(list(args), git_dir=git_dir, extra_env=extra_env, input_text=input_text)
        if done.returncode == 0:
            return done.stdout.strip()
        reason = _reason(done.stderr)
        if "dubious ownership" in reason:
            raise InvalidInput(
                f"git refuses to read '{source.display}': it belongs to another user — run "
                "Errand as the repository's owner, or clone it to a directory you own"
            )
        raise ForgeError(f"git {args[0]} failed for {source.display}: {reason}")


def _reason(stderr: str) -> str:
    """git's own explanation: its fatal/error lines (else its last lines), with any
    credentials in URLs it quotes removed."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    text = " / ".join(errors or lines[-3:]) or "no error output"
    return _URL_CREDENTIALS.sub(r"\1", text)


def _apply_failure(stderr: str, base: str, display: str) -> str:
    """What went wrong with `git apply`, and what to do: only a patch whose context no longer
    matches means the base moved; a refused path or a malformed patch would fail again."""
    reason = _reason(stderr)
    if "invalid path" in stderr or "beyond a symbolic link" in stderr:
        return (
            f"refusing to publish the patch to '{base}' of {display}: {reason} — it writes "
            "inside .git, outside the repository or through a symbolic link; inspect the "
            "task's diff, such a change cannot be published"
        )
    if any(s in stderr for s in ("patch failed:", "does not apply", "in index")):
        return (
            f"patch does not apply to '{base}' of {display}: {reason} — the base branch may "
            "have moved; rerun the task on the current base"
        )
    return (
        f"the patch for '{base}' of {display} is malformed: {reason} — it is not "
        "`git diff --binary` output; rerun the task"
    )


def _full_message(commit_message: str, body: str) -> str:
    message = commit_message.strip()
    body = body.strip()
    if body and body not in message:
        message = f"{message}\n\n{body}"
    return message + "\n"
