"""A corpus of patches to hold jobs.agent's patch application against real `git apply`.

Real diffs: files of the fixture repositories under tests/fixtures/localize are mutated at random
(lines changed, inserted, deleted, at the start, in the middle and at the end; the final newline
dropped or added; some files in CRLF), committed and diffed with real `git diff` at several
context sizes, with deletions, new files and renames. Each diff is applied to its own base and to
bases that drifted since (lines inserted above, a context line changed, trailing spaces added,
the end cut off, the change already made). Hand-made hostile patches add what `git diff` never
writes. `git_apply` runs real git on a case; the tests compare our answer with it."""

from __future__ import annotations

import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "fixtures" / "localize"
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
        if p.is_file() and p.suffix in {".py", ".js", ".md", ".rst", ".txt", ".cfg", ".toml"}
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
        out["edited"] = b"".join(lines[:k] + [b"edited line" + eol] + lines[k + 1 :])
        spaced = lines[k].rstrip(b"\r\n") + b"  " + lines[k][len(lines[k].rstrip(b"\r\n")) :]
        out["spaced"] = b"".join(lines[:k] + [spaced] + lines[k + 1 :])
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
    write_tree(repo, base)
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
    git(repo, "add", "-A")
    cases: list[Case] = []
    for context in ("-U0", "-U1", "-U3", "-U5"):
        whole = git(repo, "diff", "--cached", "-M", context).stdout
        cases.append(Case(f"all files {context}", dict(base), whole))
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
    return [parts[0] + b"\n"] + [b"diff --git " + p + b"\n" for p in parts[1:-1]] + (
        [b"diff --git " + parts[-1]] if len(parts) > 1 else []
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
    abc = {"f.txt": b"a\nb\nc\n"}
    ten = {"n.txt": b"".join(b"line %d\n" % i for i in range(1, 11))}
    crlf = {"w.txt": b"one\r\ntwo\r\nthree\r\n"}
    head = b"--- a/f.txt\n+++ b/f.txt\n"
    nhead = b"--- a/n.txt\n+++ b/n.txt\n"
    cases = [
        ("trailing context past the end", abc, head + b"@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n"),
        ("leading context before the start", abc, head + b"@@ -1,3 +1,3 @@\n z\n-a\n+A\n b\n"),
        ("new-file hunk over an existing file", abc, head + b"@@ -0,0 +1,2 @@\n+x\n+y\n"),
        ("new-file hunk over a missing file", {}, head + b"@@ -0,0 +1,2 @@\n+x\n+y\n"),
        ("new-file hunk over an empty file", {"f.txt": b""}, head + b"@@ -0,0 +1 @@\n+x\n"),
        ("/dev/null over an existing file", abc, b"--- /dev/null\n+++ b/f.txt\n@@ -0,0 +1 @@\n+x\n"),
        ("/dev/null over an empty file", {"f.txt": b""}, b"--- /dev/null\n+++ b/f.txt\n@@ -0,0 +1 @@\n+x\n"),
        ("old count too small", abc, head + b"@@ -1,2 +1,2 @@\n a\n-b\n+B\n c\n"),
        ("old count too large", abc, head + b"@@ -1,4 +1,4 @@\n a\n-b\n+B\n c\n"),
        ("new count too large", abc, head + b"@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n"),
        ("counts too small before the next hunk", ten, nhead + b"@@ -1,2 +1,2 @@\n line 1\n-line 2\n+two\n line 3\n@@ -8,3 +8,3 @@\n line 8\n-line 9\n+nine\n line 10\n"),
        ("context mismatch", abc, head + b"@@ -1,3 +1,3 @@\n a\n-b\n+B\n x\n"),
        ("context mismatch in the middle", ten, nhead + b"@@ -4,5 +4,5 @@\n line 4\n line 5\n-line 6\n+six\n line 77\n line 8\n"),
        ("removed line mismatch", abc, head + b"@@ -1,3 +1,3 @@\n a\n-q\n+B\n c\n"),
        ("offset drift", ten, nhead + b"@@ -2,3 +2,3 @@\n line 5\n-line 6\n+six\n line 7\n"),
        ("offset drift of a first-line hunk", ten, nhead + b"@@ -1,3 +1,3 @@\n line 5\n-line 6\n+six\n line 7\n"),
        ("hunk without trailing context mid-file", ten, nhead + b"@@ -4,2 +4,2 @@\n line 4\n-line 5\n+five\n"),
        ("hunk without trailing context at the end", ten, nhead + b"@@ -9,2 +9,2 @@\n line 9\n-line 10\n+ten\n"),
        ("bare insertion", ten, nhead + b"@@ -3,0 +4,2 @@\n+x\n+y\n"),
        ("bare replacement", ten, nhead + b"@@ -3 +3 @@\n-line 3\n+three\n"),
        ("whitespace drift", ten, nhead + b"@@ -4,3 +4,3 @@\n line 4 \n-line 5\n+five\n  line 6\n"),
        ("LF patch on a CRLF file", crlf, b"--- a/w.txt\n+++ b/w.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"),
        ("CRLF patch on a CRLF file", crlf, b"--- a/w.txt\r\n+++ b/w.txt\r\n@@ -1,3 +1,3 @@\r\n one\r\n-two\r\n+2\r\n three\r\n"),
        ("CRLF patch on an LF file", abc, b"--- a/f.txt\r\n+++ b/f.txt\r\n@@ -1,3 +1,3 @@\r\n a\r\n-b\r\n+B\r\n c\r\n"),
        ("no newline at the end, kept", {"f.txt": b"a\nb"}, head + b"@@ -1,2 +1,2 @@\n-a\n+A\n b\n\\ No newline at end of file\n"),
        ("no newline at the end, added", {"f.txt": b"a\nb"}, head + b"@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"),
        ("no newline at the end, dropped", abc, head + b"@@ -2,2 +2,2 @@\n b\n-c\n+C\n\\ No newline at end of file\n"),
        ("no-newline context on a file that has one", abc, head + b"@@ -1,2 +1,2 @@\n-a\n+A\n b\n\\ No newline at end of file\n"),
        ("patch text without a final newline", abc, head + b"@@ -1,3 +1,3 @@\n a\n-b\n+B\n c"),
        ("empty line as context", {"f.txt": b"a\n\nc\n"}, head + b"@@ -1,3 +1,3 @@\n a\n\n-c\n+C\n"),
        ("only context", abc, head + b"@@ -1,2 +1,2 @@\n a\n b\n"),
        ("fragment without a header", abc, b"@@ -1 +1 @@\n-a\n+A\n"),
        ("prose only", abc, b"I would change b to B.\n"),
        ("prose around the diff", abc, b"Here:\n" + head + b"@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\nDone.\n"),
        ("patch of a missing file", {}, head + b"@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"),
        ("deletion", abc, b"diff --git a/f.txt b/f.txt\ndeleted file mode 100644\n--- a/f.txt\n+++ /dev/null\n@@ -1,3 +0,0 @@\n-a\n-b\n-c\n"),
        ("deletion that leaves lines", abc, b"diff --git a/f.txt b/f.txt\ndeleted file mode 100644\n--- a/f.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n"),
        ("traditional deletion", abc, b"--- a/f.txt\n+++ /dev/null\n@@ -1,3 +0,0 @@\n-a\n-b\n-c\n"),
        ("emptied but not deleted", abc, head + b"@@ -1,3 +0,0 @@\n-a\n-b\n-c\n"),
        ("deletion of a missing file", {}, b"--- a/f.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n"),
        ("rename", abc, b"diff --git a/f.txt b/g.txt\nsimilarity index 100%\nrename from f.txt\nrename to g.txt\n"),
        ("rename onto an existing file", {**abc, "g.txt": b"x\n"}, b"diff --git a/f.txt b/g.txt\nsimilarity index 100%\nrename from f.txt\nrename to g.txt\n"),
        ("rename with a change", abc, b"diff --git a/f.txt b/g.txt\nsimilarity index 60%\nrename from f.txt\nrename to g.txt\n--- a/f.txt\n+++ b/g.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"),
        ("copy", abc, b"diff --git a/f.txt b/g.txt\nsimilarity index 100%\ncopy from f.txt\ncopy to g.txt\n"),
        ("mode change", abc, b"diff --git a/f.txt b/f.txt\nold mode 100644\nnew mode 100755\n"),
        ("new empty file", {}, b"diff --git a/e.txt b/e.txt\nnew file mode 100644\nindex 0000000..e69de29\n"),
        ("binary without data", {"i.bin": b"\x00\x01"}, b"diff --git a/i.bin b/i.bin\nindex 1111111..2222222 100644\nBinary files a/i.bin and b/i.bin differ\n"),
        ("two hunks overlapping", ten, nhead + b"@@ -2,3 +2,3 @@\n line 2\n-line 3\n+three\n line 4\n@@ -3,3 +3,3 @@\n line 3\n-line 4\n+four\n line 5\n"),
        ("hunks out of order", ten, nhead + b"@@ -8,3 +8,3 @@\n line 8\n-line 9\n+nine\n line 10\n@@ -1,3 +1,3 @@\n line 1\n-line 2\n+two\n line 3\n"),
        ("two patches for one file", ten, nhead + b"@@ -1,2 +1,2 @@\n-line 1\n+one\n line 2\n" + b"--- a/n.txt\n+++ b/n.txt\n@@ -1,2 +1,2 @@\n-one\n+ONE\n line 2\n"),
        ("path without a prefix", abc, b"--- f.txt\n+++ f.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"),
        ("quoted path", {"s p.txt": b"a\n"}, b'diff --git "a/s p.txt" "b/s p.txt"\n--- "a/s p.txt"\n+++ "b/s p.txt"\n@@ -1 +1 @@\n-a\n+A\n'),
        ("timestamps after the names", abc, b"--- f.txt\t2024-01-01 00:00:00\n+++ f.txt\t2024-01-02 00:00:00\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"),
        ("removed SQL comment lines", {"q.sql": b"select 1;\n-- old\nselect 2;\n"}, b"--- a/q.sql\n+++ b/q.sql\n@@ -1,3 +1,3 @@\n select 1;\n--- old\n+++ new\n select 2;\n"),
        ("unicode", {"u.py": "名前 = 'Zoë'\n".encode()}, "--- a/u.py\n+++ b/u.py\n@@ -1 +1 @@\n-名前 = 'Zoë'\n+名前 = 'Zoé'\n".encode()),
    ]  # fmt: skip
    return [Case(name, tree, patch) for name, tree, patch in cases]
