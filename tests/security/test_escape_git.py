"""Escape battery, the trusted side: whatever untrusted code leaves in the workspace (hooks,
filters, fsmonitor, symlinks, FIFOs, a hostile patch) never runs or is followed where the
credentials are. The publish path is the project's own: LocalGitForge.publish with a diff
computed inside the sandbox and read with shared.safefs."""

from __future__ import annotations

import os
import shlex
import threading
from pathlib import Path

import pytest

from shared import safefs
from shared.adapters.bwrap_sandbox import BwrapSandbox
from shared.adapters.local_git import LocalGitForge
from shared.errors import ForgeError
from tests.security.probes import FILE_CANARY, Host, probe
from tests.support.gitrepo import commit_all, git, make_repo

DIFF = ".errand/diff.patch"
HOOKS = (
    "pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "pre-push", "post-checkout",
    "post-merge", "post-rewrite", "reference-transaction", "post-index-change", "pre-auto-gc",
    "applypatch-msg", "pre-applypatch", "post-applypatch", "push-to-checkout", "update",
    "pre-receive", "post-receive", "post-update", "sendemail-validate", "fsmonitor-watchman",
)  # fmt: skip


def _plant(markers: Path) -> str:
    """Shell that plants every way git can be made to run a command, each touching a marker."""

    def run(name: str) -> str:
        return f"mkdir -p {markers} && touch {markers}/{name}"

    hooks = "".join(
        f"printf '#!/bin/sh\\n{run('hook-' + h)}\\n' > .git/hooks/{h}; chmod +x .git/hooks/{h}; "
        for h in HOOKS
    )
    config = {
        "core.fsmonitor": f"{run('fsmonitor')}; false",
        "core.hooksPath": ".git/hooks",
        "core.pager": run("pager"),
        "core.editor": run("editor"),
        "core.sshCommand": run("ssh"),
        "core.askPass": run("askpass"),
        "credential.helper": f"!{run('credential')}",
        "diff.external": run("diff-external"),
        "filter.evil.clean": f"sh -c '{run('clean')}; cat'",
        "filter.evil.smudge": f"sh -c '{run('smudge')}; cat'",
        "diff.evil.textconv": f"sh -c '{run('textconv')}; cat'",
        "merge.evil.driver": run("merge-driver"),
        "uploadpack.packObjectsHook": run("pack-objects-hook"),
        "protocol.ext.allow": "always",
        "remote.origin.pushurl": f"ext::sh -c {run('ext-transport').replace(' ', '% ')}",
        "include.path": "/workspace/repo/.git/evil.inc",
    }
    settings = "".join(f"git config {k} {shlex.quote(v)}; " for k, v in config.items())
    return (
        f"cd /workspace/repo && mkdir -p .git/hooks && {hooks}{settings}"
        f"printf '[alias]\\n\\tstatus = !{run('alias')}\\n' > .git/evil.inc; "
        "printf '* filter=evil diff=evil merge=evil\\n' > .gitattributes; "
    )


@pytest.fixture
def origin(host: Host) -> Path:
    return make_repo(host.home.parent / "origin", {"calc.py": "x = 1\n", "README.md": "calc\n"})


def test_planted_hooks_filters_and_fsmonitor_never_run_on_the_trusted_side(
    sandbox: BwrapSandbox, workspace: Path, host: Host, origin: Path
) -> None:
    forge = LocalGitForge()
    forge.clone(str(origin), "main", workspace / "repo")
    base = git(workspace / "repo", "rev-parse", "HEAD").strip()
    script = (
        _plant(host.markers) + "echo 'x = 2' > calc.py && "
        # positive control: inside the sandbox, the plants do fire
        "git commit -qam 'inside' ; git status >/dev/null; git push -q origin HEAD:main; "
        f"ls {host.markers}; mkdir -p /workspace/.errand && git add -A && "
        f"git diff --cached --binary --no-color --no-ext-diff --no-textconv {base} "
        f"> /workspace/{DIFF}"
    )
    result = probe(sandbox, workspace, script)
    fired = set(result.output.split())
    assert {"hook-pre-commit", "hook-post-commit", "fsmonitor", "clean"} <= fired, result.output
    assert not host.markers.exists()  # ... and nothing of it ran on the host meanwhile
    patch = safefs.read_text(workspace, DIFF)
    assert patch is not None and "+x = 2" in patch and ".gitattributes" in patch

    change = forge.publish(
        str(origin), "main", "errand/probe", patch, "fix: probe", "probe", "planted"
    )
    assert not host.markers.exists(), sorted(os.listdir(host.markers))
    assert git(origin, "show", f"{change.commit}:calc.py") == "x = 2\n"
    assert git(origin, "rev-parse", "main").strip() == base  # the sandbox could not push
    assert "evil" not in (origin / ".git" / "config").read_text()


def test_a_repository_of_symlinks_is_never_followed_by_the_trusted_side(
    sandbox: BwrapSandbox, workspace: Path, host: Host, origin: Path
) -> None:
    links = {
        "AGENTS.md": "/etc/passwd",
        "README.md": str(host.key_file),
        "docs": str(host.home),
        "env": f"/proc/{os.getpid()}/environ",
    }
    (origin / "README.md").unlink()
    for name, target in links.items():
        (origin / name).symlink_to(target)
    commit_all(origin, "links")
    forge = LocalGitForge()
    forge.clone(str(origin), "main", workspace / "repo")
    repo = workspace / "repo"
    # the attack is real: a naive read on the trusted side would hand over the key
    assert (repo / "README.md").read_text() == FILE_CANARY
    for name in ("AGENTS.md", "README.md", "docs/keys/master.key", "env"):
        assert safefs.read_text(repo, name) is None, name
        assert safefs.read_bytes(repo, name) is None, name
    inside = probe(sandbox, workspace, "cd repo && cat AGENTS.md README.md docs/keys/* env")
    assert "sandbox:x:1000" in inside.output and "root:x:0:0:root:/root:/bin" not in inside.output

    base = git(repo, "rev-parse", "HEAD").strip()
    script = (
        f"cd repo && ln -s {host.key_file} stolen && mkdir -p /workspace/.errand && "
        f"git add -A && git diff --cached --binary {base} > /workspace/{DIFF}"
    )
    probe(sandbox, workspace, script)
    patch = safefs.read_text(workspace, DIFF)
    assert patch is not None and "new file mode 120000" in patch
    change = forge.publish(str(origin), "main", "errand/links", patch, "feat: link", "t", "b")
    # what was published is the link's text, never what it points to
    assert git(origin, "show", f"{change.commit}:stolen") == str(host.key_file)


def test_a_hostile_patch_cannot_reach_outside_the_pristine_clone(host: Host, origin: Path) -> None:
    escape = host.home.parent / "escaped"

    def new_file(path: str, body: str, mode: str = "100644") -> str:
        return (
            f"diff --git a/{path} b/{path}\nnew file mode {mode}\n--- /dev/null\n"
            f"+++ b/{path}\n@@ -0,0 +1 @@\n+{body}\n"
        )

    forge = LocalGitForge()
    for path in ("../escaped", str(escape), ".git/hooks/x", "a/../../escaped", ".GIT/config"):
        patch = new_file(path, f"mkdir -p {host.markers}", "100755")
        with pytest.raises(ForgeError, match="invalid path"):
            forge.publish(str(origin), "main", "errand/hostile", patch, "fix: x", "t", "b")
    assert git(origin, "branch", "--list", "errand/*") == ""
    assert not escape.exists()


def test_a_fifo_planted_in_the_workspace_does_not_hang_the_trusted_side(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    probe(sandbox, workspace, "mkfifo AGENTS.md && ls -l AGENTS.md")
    results: list[str | None] = []
    reader = threading.Thread(
        target=lambda: results.append(safefs.read_text(workspace, "AGENTS.md")), daemon=True
    )
    reader.start()
    reader.join(2)
    hung = reader.is_alive()
    if hung:
        with open(workspace / "AGENTS.md", "wb"):  # a writer unblocks the stuck reader
            pass
        reader.join(5)
    assert not hung, "the trusted side blocked on a FIFO the sandbox planted"
    assert results == [None]


def test_the_workspace_clone_shares_no_object_file_with_the_users_repository(
    sandbox: BwrapSandbox, workspace: Path, origin: Path
) -> None:
    # A plain-directory workspace on the source's filesystem: where a local clone would
    # hard-link the user's objects instead of copying them.
    assert workspace.stat().st_dev == origin.stat().st_dev
    LocalGitForge().clone(str(origin), "main", workspace / "repo")
    script = (
        "cd repo && chmod -R u+w .git/objects && "
        "find .git/objects -type f -exec sh -c 'printf x >> \"$1\"' _ {} \\; && echo appended"
    )
    assert "appended" in probe(sandbox, workspace, script).output
    git(origin, "fsck", "--full", "--strict")  # raises if any object was damaged
    source = {(f.stat().st_dev, f.stat().st_ino) for f in _files(origin / ".git" / "objects")}
    cloned = {(f.stat().st_dev, f.stat().st_ino) for f in _files(workspace / "repo/.git/objects")}
    assert source and cloned and not source & cloned


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
