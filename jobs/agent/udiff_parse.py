"""Unified diffs as models write them, read leniently (see udiff): prose and code fences
around the diff, hunk headers without numbers or with wrong counts, context lines that lost their
leading space. Each file patch also carries how `git apply` reads the same text (git_apply), so
that a patch git accepts is applied as git would. Pure: no IO."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from jobs.agent import git_apply
from jobs.agent.git_apply import ExactPatch, PatchError

_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class Hunk:
    header: str
    old_start: int | None  # 1-based, as written; None when the header has no numbers
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" " | "-" | "+", text)
    new_no_eol: bool = False  # "\ No newline at end of file" after the new side's last line

    def side(self, tags: str) -> list[str]:
        return [text for tag, text in self.lines if tag in tags]


@dataclass
class FilePatch:
    old_path: str | None  # None: /dev/null, the file is created
    new_path: str | None  # None: /dev/null, the file is deleted
    hunks: list[Hunk] = field(default_factory=list)
    binary: bool = False
    exact: ExactPatch | None = None  # how git reads it; None when git would not
    exact_error: str = ""  # and then why

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


@dataclass
class Patched:
    files: dict[str, str | None]  # every path the patch touches: new content, None = deleted
    notes: list[str]  # how hunks were placed when not exactly where the patch said


# ---------------------------------------------------------------------------- parse


def parse_patch(text: str) -> list[FilePatch]:
    """The file patches in `text`, which may hold prose and code fences around the diff."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines[-1] == "":
        lines.pop()  # what follows the final newline is not a line
    patches: list[FilePatch] = []
    git: FilePatch | None = None  # a `diff --git` section still waiting for its ---/+++ lines
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            a, _, b = line[len("diff --git ") :].partition(" ")
            git = FilePatch(_strip_prefix(_path(a), "a/"), _strip_prefix(_path(b), "b/"))
            patches.append(git)
        elif _is_file_header(lines, i):
            old, new = _path(lines[i][4:]), _path(lines[i + 1][4:])
            if (old is None or old.startswith("a/")) and (new is None or new.startswith("b/")):
                old, new = _strip_prefix(old, "a/"), _strip_prefix(new, "b/")
            if git is not None and not git.hunks:
                git.old_path, git.new_path = old, new
            else:
                patches.append(FilePatch(old, new))
            git = None
            i += 1
        elif line.startswith("@@"):
            if not patches:
                raise PatchError(
                    f"the hunk at line {i + 1} of the patch comes before any file header; start "
                    "each file with '--- a/PATH' and '+++ b/PATH' lines"
                )
            hunk, i = _parse_hunk(lines, i)
            patches[-1].hunks.append(hunk)
            continue
        elif git is not None:
            _git_header(git, line)
        i += 1
    if not patches:
        raise PatchError(
            "no unified diff found: write '--- a/PATH', '+++ b/PATH', then '@@ ... @@' hunks "
            "whose lines start with ' ' (context), '-' (removed) or '+' (added)"
        )
    try:
        exact = git_apply.parse(text)
    except PatchError as exc:
        for one in patches:
            one.exact_error = f"git apply would refuse this patch: {exc.message}"
        return patches
    same = len(exact) == len(patches) and all(
        (e.old_path is None) == (p.old_path is None)
        and (e.new_path is None) == (p.new_path is None)
        and (p.path or "").endswith(e.new_path or e.old_path or "")
        for e, p in zip(exact, patches, strict=True)
    )
    for one, read in zip(patches, exact, strict=True) if same else ():
        one.exact = read
    for one in () if same else patches:
        one.exact_error = "git apply would read other files out of this patch"
    return patches


def _git_header(patch: FilePatch, line: str) -> None:
    if line.startswith("new file mode"):
        patch.old_path = None
    elif line.startswith("deleted file mode"):
        patch.new_path = None
    elif line.startswith("rename from "):
        patch.old_path = line[len("rename from ") :]
    elif line.startswith("rename to "):
        patch.new_path = line[len("rename to ") :]
    elif line.startswith(("Binary files ", "GIT binary patch")):
        patch.binary = True


def _is_file_header(lines: list[str], i: int) -> bool:
    return lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")


def _path(raw: str) -> str | None:
    path = raw.split("\t")[0].strip()
    if len(path) > 1 and path[0] == path[-1] == '"':
        path = path[1:-1]
    return None if path == "/dev/null" else path


def _strip_prefix(path: str | None, prefix: str) -> str | None:
    return path.removeprefix(prefix) if path is not None else None


def _parse_hunk(lines: list[str], i: int) -> tuple[Hunk, int]:
    """The hunk whose header is lines[i], and the index of the line after it."""
    header = lines[i]
    match = _HUNK_RE.match(header)
    hunk = Hunk(header, int(match.group(1)) if match else None)
    old_left = int(match.group(2) or 1) if match else 0
    new_left = int(match.group(4) or 1) if match else 0
    bare_blanks = 0  # trailing empty lines, which may be context or just the end of the diff
    i += 1
    while i < len(lines):
        line = lines[i]
        if line.startswith(("@@", "diff --git ")):
            break
        # "--- x" then "+++ y" is the next file, unless the counts say this hunk goes on and
        # no hunk header follows (it is then a removed "-- x" and an added "++ y").
        in_range = old_left > 0 or new_left > 0
        if _is_file_header(lines, i) and (
            not in_range or (i + 2 < len(lines) and lines[i + 2].startswith("@@"))
        ):
            break
        if line.startswith("\\"):
            if hunk.lines and hunk.lines[-1][0] in " +":
                hunk.new_no_eol = True
            i += 1
            continue
        if line and line[0] not in " -+":
            break  # prose after the diff
        tag, text = (line[0], line[1:]) if line else (" ", "")
        bare_blanks = bare_blanks + 1 if not line else 0
        hunk.lines.append((tag, text))
        hunk.new_no_eol = hunk.new_no_eol and tag == "-"  # the marker is for an earlier line
        old_left -= tag in " -"
        new_left -= tag in " +"
        i += 1
    while bare_blanks and (match is None or old_left < 0):
        hunk.lines.pop()
        bare_blanks, old_left = bare_blanks - 1, old_left + 1
    return hunk, i
