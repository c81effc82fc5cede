"""Forge contract, run against real git repositories in temporary directories."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.local_git import LocalGitForge, strip_credentials
from shared.errors import ForgeError, InvalidInput
from shared.ports import Forge
from tests.support.gitrepo import commit_all, git, make_repo, write_files

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


@pytest.fixture(params=["local_git"])
def forge(request: pytest.FixtureRequest) -> Forge:
    assert request.param == "local_git"
    return LocalGitForge(timeout_s=60)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    repo = make_repo(
        tmp_path / "origin",
        {"a.txt": "alpha\n", "b.txt": "bravo\n", "docs/guide.md": "# Guide\n"},
    )
    git(repo, "checkout", "-q", "-b", "dev")
    write_files(repo, {"dev-only.txt": "dev\n"})
    commit_all(repo, "dev work")
    git(repo, "checkout", "-q", "main")
    return repo


def _diff_from_workspace(ws: Path) -> str:
    git(ws, "add", "-A")
    return git(ws, "diff", "--cached", "--binary", "HEAD")


# ---------------------------------------------------------------------------- clone


def test_clone_default_branch(forge: Forge, origin: Path, tmp_path: Path) -> None:
    dest = tmp_path / "ws"
    assert forge.clone(str(origin), "", dest) == "main"
    assert (dest / "a.txt").read_text() == "alpha\n"
    assert not (dest / "dev-only.txt").exists()
    assert git(dest, "rev-parse", "HEAD") == git(origin, "rev-parse", "main")
    assert git(dest, "config", "user.email").strip() == "errand@localhost"
    assert not (dest / ".git" / "hooks").exists()


def test_clone_named_branch(forge: Forge, origin: Path, tmp_path: Path) -> None:
    dest = tmp_path / "ws"
    assert forge.clone(str(origin), "dev", dest) == "dev"
    assert (dest / "dev-only.txt").read_text() == "dev\n"
    assert git(dest, "branch", "--show-current").strip() == "dev"


def test_clone_follows_a_default_branch_not_named_main(forge: Forge, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "o", {"x": "1\n"}, branch="trunk")
    assert forge.clone(f"file://{repo}", "", tmp_path / "ws") == "trunk"


def test_clone_bad_inputs_say_what_to_do(forge: Forge, origin: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    empty = make_repo(tmp_path / "empty", {})
    cases = {
        str(tmp_path / "missing"): "does not exist — pass a path to a git repository",
        str(plain): "is a directory but not a git repository — run `git init` there",
        str(origin / "docs"): "or pass the repository root",
        str(origin / "a.txt"): "is a file, not a git repository",
        str(empty): "has no commits yet",
        "": "no repository given",
    }
    for repo, message in cases.items():
        with pytest.raises(InvalidInput, match=message):
            forge.clone(repo, "", tmp_path / "ws")
    with pytest.raises(InvalidInput) as info:
        forge.clone(str(origin), "release", tmp_path / "ws")
    assert info.value.message == f"branch 'release' not found in {origin}; available: dev, main"
    assert not (tmp_path / "ws").exists()


def test_clone_keeps_credentials_out_of_the_workspace(
    forge: Forge, origin: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "ws"
    assert forge.clone(f"file://user:s3cr3t-token@{origin}", "main", dest) == "main"
    assert git(dest, "remote", "get-url", "origin").strip() == f"file://{origin}"
    leaks = [p for p in dest.rglob("*") if p.is_file() and b"s3cr3t-token" in p.read_bytes()]
    assert leaks == []


def _object_files(repo: Path) -> set[tuple[int, int]]:
    files = [p for p in (repo / ".git" / "objects").rglob("*") if p.is_file()]
    return {(p.stat().st_dev, p.stat().st_ino) for p in files}


def test_clone_copies_objects_instead_of_hard_linking_them(
    forge: Forge, origin: Path, tmp_path: Path
) -> None:
    """The workspace is the sandbox's to write: an object file it shared with the user's
    repository would be a way to corrupt that repository."""
    dest = tmp_path / "ws"
    forge.clone(str(origin), "main", dest)
    assert _object_files(origin) and _object_files(dest)
    assert not _object_files(origin) & _object_files(dest)


def test_the_pristine_clone_of_publish_links_no_object_either(origin: Path, tmp_path: Path) -> None:
    # A git that, after each clone, lists the user's object files that gained a second link.
    log = tmp_path / "clones.log"
    wrapper = tmp_path / "git-watch"
    wrapper.write_text(
        '#!/bin/sh\ngit "$@"; status=$?\ncase " $* " in *" clone "*)\n'
        f"  echo clone >> {log}; find {origin}/.git/objects -type f -links +1 >> {log};;\n"
        "esac\nexit $status\n"
    )
    wrapper.chmod(0o755)
    forge = LocalGitForge(git=str(wrapper), timeout_s=60)
    forge.publish(
        str(origin), "main", "errand/n", _change_in(forge, origin, tmp_path), "fix: n", "", ""
    )
    assert log.read_text().split() == ["clone", "clone"]  # the workspace's, publish's


def test_clone_into_a_non_empty_directory_is_a_forge_error(
    forge: Forge, origin: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "ws"
    write_files(dest, {"keep.txt": "x"})
    with pytest.raises(ForgeError, match="already exists"):
        forge.clone(str(origin), "", dest)


def test_strip_credentials() -> None:
    assert strip_credentials("https://x-access-token:ghs_abc@github.com/o/r.git") == (
        "https://github.com/o/r.git"
    )
    assert strip_credentials("https://user@host:8443/r?x=1") == "https://host:8443/r?x=1"
    assert strip_credentials("file://u:p@/srv/repo") == "file:///srv/repo"
    assert strip_credentials("https://host/r") == "https://host/r"
    assert strip_credentials("git@github.com:o/r.git") == "git@github.com:o/r.git"
    assert strip_credentials("/srv/a@b/repo") == "/srv/a@b/repo"


# ---------------------------------------------------------------------------- hostile input


@pytest.fixture
def hostile_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Configuration that makes any git honouring it run `touch <marker>`: hooks for every
    event, a filter, fsmonitor. Yields the marker; the test fails if it ever appears."""
    marker = tmp_path / "executed"
    hooks = tmp_path / "evil-hooks"
    hooks.mkdir()
    for name in ("post-checkout", "pre-commit", "post-commit", "pre-push", "reference-transaction"):
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
        hook.chmod(0o755)
    config = tmp_path / "evil.gitconfig"
    touch = f"sh -c 'touch {marker}; cat'"
    config.write_text(
        f"[core]\n\thooksPath = {hooks}\n\tfsmonitor = {hooks / 'pre-commit'}\n"
        f'[filter "evil"]\n\tclean = {touch}\n\tsmudge = {touch}\n\trequired = true\n'
    )
    for var in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM"):
        monkeypatch.setenv(var, str(config))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.hooksPath")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(hooks))
    yield marker


def test_hostile_config_is_live_for_a_plain_git(
    hostile_env: Path, origin: Path, tmp_path: Path
) -> None:
    """The control: the attack in `hostile_env` works against git run the ordinary way, so the
    tests below that prove the forge ignores it can fail."""
    subprocess.run(["git", "clone", "-q", str(origin), str(tmp_path / "x")], check=True)
    assert hostile_env.exists()


def test_clone_ignores_hostile_config(
    forge: Forge, hostile_env: Path, origin: Path, tmp_path: Path
) -> None:
    write_files(origin, {".gitattributes": "* filter=evil\n"})
    commit_all(origin, "attributes")
    forge.clone(str(origin), "", tmp_path / "ws")
    assert (tmp_path / "ws" / "a.txt").read_text() == "alpha\n"
    assert not hostile_env.exists()


def test_clone_refuses_command_transports_and_option_injection(
    forge: Forge, tmp_path: Path
) -> None:
    marker = tmp_path / "executed"
    with pytest.raises(ForgeError, match="transport 'ext' not allowed"):
        forge.clone(f"ext::sh -c touch% {marker}", "", tmp_path / "ws1")
    with pytest.raises(InvalidInput, match="does not exist"):
        forge.clone(f"--upload-pack=touch {marker}", "", tmp_path / "ws2")
    assert not marker.exists()


# ---------------------------------------------------------------------------- publish


def _change_in(forge: Forge, origin: Path, tmp_path: Path, name: str = "ws") -> str:
    ws = tmp_path / name
    forge.clone(str(origin), "main", ws)
    write_files(ws, {"a.txt": "alpha\nmore\n", "new/file.txt": "new\n", "logo.png": PNG})
    (ws / "b.txt").unlink()
    return _diff_from_workspace(ws)


def test_publish_commits_exactly_the_patch_on_the_base(
    forge: Forge, origin: Path, tmp_path: Path
) -> None:
    patch = _change_in(forge, origin, tmp_path)
    base = git(origin, "rev-parse", "main").strip()
    change = forge.publish(
        str(origin), "main", "errand/fix-1", patch, "fix: do the thing\n\nDetails.", "T", "Body."
    )
    assert change.branch == "errand/fix-1"
    assert change.url == f"{origin}#errand/fix-1"
    assert git(origin, "rev-parse", "errand/fix-1").strip() == change.commit
    assert git(origin, "rev-parse", f"{change.commit}^").strip() == base
    status = git(origin, "diff", "--name-status", "main", "errand/fix-1").split("\n")
    assert [line for line in status if line] == [
        "M\ta.txt",
        "D\tb.txt",
        "A\tlogo.png",
        "A\tnew/file.txt",
    ]
    blob = subprocess.run(
        ["git", "-C", str(origin), "cat-file", "blob", "errand/fix-1:logo.png"],
        capture_output=True,
        check=True,
    ).stdout
    assert blob == PNG
    message = git(origin, "log", "-1", "--format=%an <%ae>%n%B", change.commit)
    assert message.strip() == "Errand <errand@localhost>\nfix: do the thing\n\nDetails.\n\nBody."
    assert git(origin, "rev-parse", "main").strip() == base


def test_publish_twice_updates_the_branch(forge: Forge, origin: Path, tmp_path: Path) -> None:
    first = forge.publish(
        str(origin), "", "errand/x", _change_in(forge, origin, tmp_path), "feat: one", "", ""
    )
    ws = tmp_path / "ws2"
    forge.clone(str(origin), "main", ws)
    write_files(ws, {"a.txt": "second\n"})
    second = forge.publish(
        str(origin), "", "errand/x", _diff_from_workspace(ws), "feat: two", "", ""
    )
    assert second.commit != first.commit
    assert git(origin, "rev-parse", "errand/x").strip() == second.commit
    assert git(origin, "rev-parse", "errand/x^").strip() == git(origin, "rev-parse", "main").strip()
    assert git(origin, "show", "errand/x:a.txt") == "second\n"


def test_publishing_the_same_change_again_is_a_no_op(
    forge: Forge, origin: Path, tmp_path: Path
) -> None:
    """A redelivered publish (its first execution died after pushing) makes no second commit
    and moves nothing."""
    patch = _change_in(forge, origin, tmp_path)
    first = forge.publish(str(origin), "", "errand/x", patch, "feat: one", "", "")
    reflog_before = git(origin, "reflog", "show", "--format=%H", "refs/heads/errand/x")
    again = forge.publish(str(origin), "", "errand/x", patch, "feat: one", "", "")
    assert again == first
    assert git(origin, "rev-list", "--count", "main..errand/x").strip() == "1"
    assert git(origin, "reflog", "show", "--format=%H", "refs/heads/errand/x") == reflog_before


def test_publish_rejects_empty_malformed_and_stale_patches(
    forge: Forge, origin: Path, tmp_path: Path
) -> None:
    for empty in ("", "  \n"):
        with pytest.raises(InvalidInput, match="the change produced no diff — nothing to publish"):
            forge.publish(str(origin), "main", "errand/e", empty, "fix: x", "", "")
    with pytest.raises(ForgeError, match=r"patch for 'main' of .* is malformed: .*No valid"):
        forge.publish(str(origin), "main", "errand/e", "not a patch\n", "fix: x", "", "")
    stale = (
        "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n"
        "@@ -1 +1 @@\n-something else\n+changed\n"
    )
    with pytest.raises(ForgeError, match=r"patch does not apply.*patch failed: a\.txt:1"):
        forge.publish(str(origin), "main", "errand/e", stale, "fix: x", "", "")
    assert "errand/e" not in git(origin, "branch", "--list")


def test_publish_validates_branches(forge: Forge, origin: Path, tmp_path: Path) -> None:
    patch = _change_in(forge, origin, tmp_path)
    with pytest.raises(InvalidInput, match="refusing to publish onto the base branch 'main'"):
        forge.publish(str(origin), "", "main", patch, "fix: x", "", "")
    for bad in ("bad..name", "-x", "with space", ""):
        with pytest.raises(InvalidInput, match="is not a valid branch name"):
            forge.publish(str(origin), "main", bad, patch, "fix: x", "", "")
    with pytest.raises(InvalidInput, match="branch 'nope' not found"):
        forge.publish(str(origin), "nope", "errand/y", patch, "fix: x", "", "")


def test_publish_refuses_paths_inside_dot_git(
    forge: Forge, hostile_env: Path, origin: Path
) -> None:
    hook = (
        "diff --git a/.git/hooks/pre-push b/.git/hooks/pre-push\nnew file mode 100755\n"
        "--- /dev/null\n+++ b/.git/hooks/pre-push\n@@ -0,0 +1,2 @@\n"
        f"+#!/bin/sh\n+touch {hostile_env}\n"
    )
    with pytest.raises(ForgeError, match=r"invalid path '\.git/hooks/pre-push'") as info:
        forge.publish(str(origin), "main", "errand/h", hook, "fix: x", "", "")
    assert "refusing to publish the patch to 'main'" in info.value.message
    assert "writes inside .git, outside the repository" in info.value.message
    assert "may have moved" not in info.value.message  # rerunning would not help
    assert not hostile_env.exists()


def test_publish_treats_planted_hooks_and_filters_as_data(
    forge: Forge, hostile_env: Path, origin: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    forge.clone(str(origin), "main", ws)
    hook = f"#!/bin/sh\ntouch {hostile_env}\n"
    write_files(
        ws,
        {
            ".gitattributes": "* filter=evil\n",
            ".githooks/pre-commit": hook,
            "hooks/post-commit": hook,
            "a.txt": "changed\n",
        },
    )
    (ws / ".githooks" / "pre-commit").chmod(0o755)
    patch = _diff_from_workspace(ws)
    assert not hostile_env.exists()  # the test's own git ran without the hostile config
    change = forge.publish(str(origin), "main", "errand/p", patch, "chore: hooks", "", "")
    assert not hostile_env.exists()
    tree = git(origin, "ls-tree", "-r", change.commit)
    assert "100755 blob" in next(line for line in tree.splitlines() if ".githooks" in line)
    assert git(origin, "show", f"{change.commit}:a.txt") == "changed\n"
    assert os.listdir(tmp_path / "evil-hooks")  # the hooks were there to be run


def test_errors_about_unreachable_urls_do_not_repeat_credentials(
    forge: Forge, tmp_path: Path
) -> None:
    with pytest.raises(ForgeError) as info:
        forge.clone("https://user:tok3n-secret@127.0.0.1:9/o/r.git", "", tmp_path / "ws")
    assert "127.0.0.1:9" in info.value.message
    assert "tok3n-secret" not in info.value.message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another user")
def test_a_repository_of_another_user_is_refused_with_advice(
    forge: Forge, origin: Path, tmp_path: Path
) -> None:
    subprocess.run(["chown", "-R", "nobody", str(origin)], check=True)
    with pytest.raises(InvalidInput, match="belongs to another user — run Errand as the"):
        forge.clone(str(origin), "", tmp_path / "ws")


def test_bare_repositories_clone_and_receive(forge: Forge, origin: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(bare))
    ws = tmp_path / "ws"
    assert forge.clone(str(bare), "dev", ws) == "dev"
    write_files(ws, {"dev-only.txt": "changed\n"})
    change = forge.publish(str(bare), "dev", "errand/b", _diff_from_workspace(ws), "fix: b", "", "")
    assert git(bare, "show", f"{change.commit}:dev-only.txt") == "changed\n"
    assert git(bare, "rev-parse", "errand/b^").strip() == git(bare, "rev-parse", "dev").strip()
