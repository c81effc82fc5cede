"""The GitHub adapter of Forge and ForgeFeedback, run with the real PyGithub and real git
against the local GitHub stand-in (tests/support/github_standin)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from shared.adapters.github_app import AppAuth
from shared.adapters.github_forge import GitHubForge
from shared.domain import GitHubOrigin
from shared.errors import ForgeError, InvalidInput
from tests.support.github_fixtures import INSTALLATION, REPO, make_forge, standin
from tests.support.github_standin import GitHubStandIn
from tests.support.gitrepo import git

__all__ = ["standin"]


def _change(forge: GitHubForge, tmp_path: Path, name: str, branch: str = "") -> str:
    ws = tmp_path / name
    forge.clone(REPO, branch, ws)
    (ws / "calc.py").write_text((ws / "calc.py").read_text().replace("a - b", "a + b", 1))
    (ws / f"{name}.txt").write_text(name + "\n")
    git(ws, "add", "-A")
    return git(ws, "diff", "--cached", "--binary", "HEAD")


def _no_token_anywhere(gh: GitHubStandIn, *roots: Path) -> None:
    tokens = gh.tokens()
    assert tokens
    for r in gh.requests:
        assert not any(t in r.path or t in r.query for t in tokens), r.path
    for root in roots:
        for f in root.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                assert not any(t.encode() in data for t in tokens), f


def test_clone_authenticates_git_with_a_read_token_kept_out_of_the_workspace(
    standin: GitHubStandIn, tmp_path: Path
) -> None:
    forge = make_forge(standin, tmp_path)
    ws = tmp_path / "ws"
    assert forge.clone(REPO, "", ws) == "main"
    assert "return a - b" in (ws / "calc.py").read_text()
    assert git(ws, "remote", "get-url", "origin").strip() == f"{standin.web_url}/{REPO}.git"
    config = (ws / ".git" / "config").read_text()
    assert "extraHeader" not in config and "x-access-token" not in config
    git_calls = [r for r in standin.requests if ".git/" in r.path]
    assert git_calls and {r.auth for r in git_calls} == {"basic"}
    minted = list(standin.state.tokens.values())
    assert len(minted) == 1
    assert minted[0].repositories == [REPO]
    assert minted[0].permissions == {"contents": "read", "metadata": "read"}
    _no_token_anywhere(standin, ws)


def test_publish_opens_one_draft_pull_request_and_updates_it(
    standin: GitHubStandIn, tmp_path: Path
) -> None:
    forge = make_forge(standin, tmp_path)
    patch = _change(forge, tmp_path, "first")
    cr = forge.publish(REPO, "main", "errand/fix-add-1", patch, "fix: add", "fix: add", "Body 1")
    pulls = standin.pulls(REPO)
    assert len(pulls) == 1 and pulls[0].draft and pulls[0].base == "main"
    assert (pulls[0].title, pulls[0].body) == ("fix: add", "Body 1")
    assert cr.number == pulls[0].number and cr.url.endswith(f"/{REPO}/pull/{cr.number}")
    assert forge.head_branch(REPO, cr.number) == "errand/fix-add-1"
    bare = standin.bare_repo(REPO)
    assert git(bare, "rev-parse", "errand/fix-add-1").strip() == cr.commit
    assert git(bare, "log", "-1", "--format=%B", cr.commit).strip() == "fix: add"
    # a rerun (redelivery) updates the same pull request
    again = forge.publish(REPO, "main", "errand/fix-add-1", patch, "fix: add", "fix: add!", "B2")
    assert again.number == cr.number and len(standin.pulls(REPO)) == 1
    assert (standin.pulls(REPO)[0].title, standin.pulls(REPO)[0].body) == ("fix: add!", "B2")
    # a follow-up adds a commit on top of the branch and leaves the description alone
    follow = _change(forge, tmp_path, "second", branch="errand/fix-add-1")
    follow = follow.replace("+    return a + b", "+    return a + b")
    ws2 = tmp_path / "second"
    assert "errand/fix-add-1" in git(ws2, "branch", "--show-current")
    top = forge.publish(
        REPO, "errand/fix-add-1", "errand/fix-add-1", _only_new_file(follow), "fix: more", "x", "y"
    )
    assert top.number == cr.number and len(standin.pulls(REPO)) == 1
    assert git(bare, "rev-parse", f"{top.commit}~1").strip() == again.commit
    # its redelivery finds the commit on top and pushes nothing
    rerun = forge.publish(
        REPO, "errand/fix-add-1", "errand/fix-add-1", _only_new_file(follow), "fix: more", "x", "y"
    )
    assert rerun.commit == top.commit == git(bare, "rev-parse", "errand/fix-add-1").strip()
    assert standin.pulls(REPO)[0].body == "B2"
    scopes = {tuple(sorted(t.permissions.items())) for t in standin.state.tokens.values()}
    assert (("contents", "write"), ("metadata", "read"), ("pull_requests", "write")) in scopes
    _no_token_anywhere(standin, tmp_path / "first", tmp_path / "second")


def _only_new_file(patch: str) -> str:
    parts = patch.split("diff --git ")
    return "".join("diff --git " + p for p in parts[1:] if p.startswith("a/second.txt"))


def test_the_read_token_cannot_push(standin: GitHubStandIn, tmp_path: Path) -> None:
    forge = make_forge(standin, tmp_path)
    ws = tmp_path / "ws"
    forge.clone(REPO, "", ws)
    token = next(iter(standin.state.tokens))
    header = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    git(ws, "checkout", "-qb", "errand/sneaky")
    with pytest.raises(AssertionError, match=r"403|denied|error"):
        git(
            ws,
            "-c",
            f"http.extraHeader=Authorization: Basic {header}",
            "push",
            "origin",
            "errand/sneaky",
        )


def test_status_comment_is_edited_in_place_and_found_by_its_marker(
    standin: GitHubStandIn, tmp_path: Path
) -> None:
    forge = make_forge(standin, tmp_path)
    n = standin.open_issue(REPO, "Fix add", "add subtracts", "alice", labels=["errand"])
    trigger = standin.add_comment(REPO, n, "/errand fix it", "alice")
    origin = GitHubOrigin(
        installation_id=INSTALLATION,
        repository=REPO,
        number=n,
        sender="alice",
        comment_id=trigger.id,
        trigger="comment",
    )
    first = forge.post_status(origin, "t_abc", "Started")
    again = forge.post_status(origin.model_copy(update={"status_comment_id": first}), "t_abc", "2")
    # a rerun that lost the id finds the comment by its hidden marker
    third = forge.post_status(origin, "t_abc", "Plan ready")
    assert first == again == third
    mine = [c for c in standin.comments(REPO, n) if c.user.type == "Bot"]
    assert len(mine) == 1 and mine[0].body.endswith("Plan ready")
    assert "<!-- errand:status:t_abc -->" in mine[0].body
    forge.acknowledge(origin)
    forge.acknowledge(origin)
    assert standin.state.comments[trigger.id].reactions == [("errand-test[bot]", "eyes")]
    assert forge.role(REPO, "alice") == "write"
    assert forge.role(REPO, "mallory") == ""
    standin.add_collaborator(REPO, "tom", "triage")
    assert forge.role(REPO, "tom") == "triage"


def test_tokens_are_cached_per_scope(standin: GitHubStandIn, tmp_path: Path) -> None:
    forge = make_forge(standin, tmp_path)
    forge.clone(REPO, "", tmp_path / "a")
    forge.clone(REPO, "", tmp_path / "b")
    forge.role(REPO, "alice")
    minted = [r for r in standin.requests if r.path.endswith("/access_tokens")]
    assert len(minted) == 2  # read for git, metadata for the permission check
    lookups = [r for r in standin.requests if r.path.endswith(f"{REPO}/installation")]
    assert len(lookups) == 1 and {r.auth for r in minted + lookups} == {"jwt"}


def test_errors_say_what_to_do(standin: GitHubStandIn, tmp_path: Path) -> None:
    forge = make_forge(standin, tmp_path)
    with pytest.raises(ForgeError, match="not installed on octo-org/other"):
        forge.clone("octo-org/other", "", tmp_path / "x")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    wrong = GitHubForge(AppAuth(standin.app_id, pem, standin.api_url, web_url=standin.web_url))
    with pytest.raises(ForgeError, match="refused the App's credentials"):
        wrong.clone(REPO, "", tmp_path / "y")
    with pytest.raises(InvalidInput, match="branch 'nope' not found"):
        forge.clone(REPO, "nope", tmp_path / "z")
