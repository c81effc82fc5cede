"""A corpus of patches to hold jobs.agent's patch application against real `git apply`.

Real diffs: files of the fixture repositories under tests/fixtures/localize are mutated at random
(lines changed, inserted, deleted, at the start, in the middle and at the end; the final newline
dropped or added; some files in CRLF), committed and diffed with real `git diff` at several
context sizes, with deletions, new files and renames. Each diff is applied to its own base and to
bases that drifted since (lines inserted above, a context line changed, trailing spaces added,
the end cut off, the change already made). Hand-made hostile patches add what `git diff` never
writes. `git_apply` runs real git on a case; the tests compare our answer with it."""

from __future__ import annotations

import json
import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "fixtures" / "localize"
HOSTILE = Path(__file__).parents[1] / "fixtures" / "patches" / "hostile.json"
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "corpus",
    "GIT_AUTHOR_EMAIL": "corpus@example.com",
    "GIT_COMMITTER_NAME": "corpus",
    "GIT_COMMITTER_EMAIL": "corpus@example.com",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
}

Tree = dict[str, bytes]


@dataclass(frozen=True)
class Case:
    name: str
    tree: Tree  # the files the patch is applied to
    patch: bytes


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = {**GIT_ENV, "GIT_CEILING_DIRECTORIES": str(cwd.parent)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=check)


def write_tree(root: Path, tree: Tree) -> None:
    for path, data in tree.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)


def read_tree(root: Path, skip: str = "") -> Tree:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != skip and ".git" not in p.relative_to(root).parts
    }


def git_apply(case: Case, workdir: Path, *options: str) -> Tree | None:
    """The tree after real `git apply` (outside any repository), or None when git refuses."""
    workdir.mkdir(parents=True)
    write_tree(workdir, case.tree)
    (workdir / "PATCH").write_bytes(case.patch)
    if git(workdir, "apply", *options, "PATCH", check=False).returncode != 0:
        return None
    return read_tree(workdir, skip="PATCH")


# ---------------------------------------------------------------------------- real diffs


def fixture_files(rng: random.Random, count: int) -> Tree:
    candidates = sorted(
        p
        for p in FIXTURES.rglob("*")
        if p.is_file()
        and p.suffix in {".py", ".js", ".md", ".rst", ".txt", ".cfg", ".toml"}
        and 200 < p.stat().st_size < 30_000
    )
    chosen = rng.sample(candidates, count)
    return {p.relative_to(FIXTURES).as_posix(): p.read_bytes() for p in chosen}


def mutate(rng: random.Random, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    eol = b"\r\n" if data.count(b"\r\n") * 2 > data.count(b"\n") else b"\n"
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["change", "insert", "delete", "first", "last", "block", "eof"])
        at = rng.randrange(max(len(lines), 1))
        new = b"mutated %d" % rng.randrange(10**6) + eol
        if kind == "change" and lines:
            lines[at] = new
        elif kind == "insert":
            lines.insert(at, new)
        elif kind == "delete" and len(lines) > 3:
            del lines[at]
        elif kind == "first" and lines:
            lines[0] = new
        elif kind == "last" and lines:
            lines[-1] = new if lines[-1].endswith(b"\n") else new.rstrip(b"\r\n")
        elif kind == "block" and len(lines) > 10:
            del lines[at : at + rng.randint(2, 6)]
            lines[at:at] = [b"block %d" % k + eol for k in range(rng.randint(0, 5))]
        elif kind == "eof" and lines:
            last = lines[-1]
            lines[-1] = last.rstrip(b"\r\n") if last.endswith(b"\n") else last + eol
    return b"".join(lines)


def drifted(rng: random.Random, base: bytes, changed: bytes) -> dict[str, bytes]:
    """Bases a patch from `base` to `changed` may meet instead of `base`."""
    lines = base.splitlines(keepends=True)
    eol = b"\r\n" if base.count(b"\r\n") * 2 > base.count(b"\n") else b"\n"
    out = {"shifted": b"".join([b"# drift\n".replace(b"\n", eol)] * 3 + lines)}
    middle = len(lines) // 2
    out["grown"] = b"".join(lines[:middle] + [b"grown\n".replace(b"\n", eol)] * 4 + lines[middle:])
    if lines:
        k = rng.randrange(len(lines))
        out["edited"] = b"".join([*lines[:k], b"edited line" + eol, *lines[k + 1 :]])
        spaced = lines[k].rstrip(b"\r\n") + b"  " + lines[k][len(lines[k].rstrip(b"\r\n")) :]
        out["spaced"] = b"".join([*lines[:k], spaced, *lines[k + 1 :]])
    out["cut"] = b"".join(lines[: max(len(lines) - 3, 0)])
    out["done"] = changed
    return out


def real_diff_cases(rng: random.Random, root: Path, files: int = 24) -> list[Case]:
    repo = root / "repo"
    repo.mkdir(parents=True)
    base = fixture_files(rng, files)
    for k, path in enumerate(sorted(base)):
        if k % 5 == 0:  # some files in CRLF
            base[path] = base[path].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    git(repo, "init", "-q")
    write_tree(repo, {**base, "blob.bin": b"\x00\x01binary\x00"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    paths = sorted(base)
    changed = {p: mutate(rng, base[p]) for p in paths[3:]}
    write_tree(repo, changed)
    (repo / paths[0]).unlink()  # a deletion
    renamed = paths[1] + ".moved"  # a rename with a small change
    (repo / paths[1]).rename(repo / renamed)
    text = (repo / renamed).read_bytes()
    (repo / renamed).write_bytes(text.replace(b"\n", b"\nrenamed\n", 1))
    write_tree(repo, {"created/new_file.txt": b"brand new\nfile\n"})
    write_tree(repo, {"blob.bin": b"\x00\x01binary\x00" * 8})
    git(repo, "add", "-A")
    blob = git(repo, "diff", "--cached", "--binary", "--", "blob.bin").stdout
    cases = [Case("blob.bin --binary on its base", {"blob.bin": b"\x00\x01binary\x00"}, blob)]
    for context in ("-U0", "-U1", "-U3", "-U5"):
        whole = git(repo, "diff", "--cached", "-M", context).stdout
        cases.append(
            Case(f"all files {context}", {**base, "blob.bin": b"\x00\x01binary\x00"}, whole)
        )
        for section in _sections(whole):
            old = _old_path(section)
            tree = {old: base[old]} if old in base else {}
            name = f"{old or 'new'} {context}"
            cases.append(Case(f"{name} on its base", tree, section))
            if old in changed:
                for how, other in drifted(rng, base[old], changed[old]).items():
                    cases.append(Case(f"{name} on {how}", {old: other}, section))
    return cases


def _sections(diff: bytes) -> list[bytes]:
    parts = diff.split(b"\ndiff --git ")
    return (
        [parts[0] + b"\n"]
        + [b"diff --git " + p + b"\n" for p in parts[1:-1]]
        + ([b"diff --git " + parts[-1]] if len(parts) > 1 else [])
    )


def _old_path(section: bytes) -> str:
    first = ""
    for line in section.split(b"\n"):
        if line.startswith((b"--- a/", b"rename from ")):
            return line.split(b" ", 2)[-1].decode().removeprefix("a/")
        if line.startswith(b"diff --git a/"):
            first = line.split(b" ")[2].decode().removeprefix("a/")
    return "" if b"new file mode" in section else first


# ---------------------------------------------------------------------------- hostile


def hostile_cases() -> list[Case]:
    """Patches `git diff` never writes, from tests/fixtures/patches/hostile.json: each has a
    name, the tree it meets and the patch (texts, stored as UTF-8)."""
    raw = json.loads(HOSTILE.read_text(encoding="utf-8"))
    return [
        Case(
            item["name"],
            {path: text.encode() for path, text in item["tree"].items()},
            item["patch"].encode(),
        )
        for item in raw
    ]
