"""`git apply` with its default options, on strings: a patch is accepted or refused as git 2.39
decides, and an accepted one gives the same bytes. Pure: no IO.

Mirrors apply.c: headers are `diff --git` or `---`/`+++` followed by `@@ -`; a hunk reads exactly
as many lines as its header counts (fewer is a corrupt patch, more are ignored), the last one
ending in a newline; a hunk is searched from its new-side line outwards (that line, one after,
one before, ...) and must match byte for byte; a hunk that starts at line 0 or 1 must match at
the beginning of the file and one without trailing context at its end; lines a hunk produced
are not matched again. `float_bare` (not git's default, for model-written patches) lets a hunk
without any context lines be placed by its line number, as `git apply --unidiff-zero` does."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from jobs.agent.edits import closest_match, numbered, split_lines
from shared.errors import InvalidInput

_FRAGMENT_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_WS = str.maketrans("", "", " \t\n\v\f\r")  # C isspace(): what git's line hash skips
_EXTENDED = (
    "old mode ", "new mode ", "deleted file mode ", "new file mode ", "copy from ", "copy to ",
    "rename old ", "rename new ", "rename from ", "rename to ", "similarity index ",
    "dissimilarity index ", "index ", "--- ", "+++ ",
)  # fmt: skip


class PatchError(InvalidInput):
    """A patch that cannot be parsed or applied. `path` and `hunk` (1-based, 0 = the file as a
    whole) say where; `closest` and `line` show the most similar lines of the file."""

    code = "patch_failed"

    def __init__(
        self, message: str, *, path: str = "", hunk: int = 0, closest: str = "", line: int = 0
    ) -> None:
        super().__init__(message)
        self.path, self.hunk, self.closest, self.line = path, hunk, closest, line


@dataclass
class ExactHunk:
    header: str
    old_start: int
    new_start: int
    old_count: int
    new_count: int
    pre: list[str] = field(default_factory=list)  # old side, lines with their endings
    post: list[str] = field(default_factory=list)
    leading: int = 0  # context lines before the first change
    trailing: int = 0  # context lines after the last change
    bare: bool = False  # no context lines at all


@dataclass
class ExactPatch:
    old_path: str | None
    new_path: str | None
    is_new: int = -1  # -1: unknown until the file is looked at, as in git
    is_delete: int = -1
    keeps_old: bool = False  # a copy: the old file stays
    binary: bool = False
    hunks: list[ExactHunk] = field(default_factory=list)


# ---------------------------------------------------------------------------- parse


def parse(text: str) -> list[ExactPatch]:
    lines = split_lines(text)
    patches: list[ExactPatch] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FRAGMENT_RE.match(line):
            raise PatchError(f"patch fragment without header at line {i + 1}: {line.strip()}")
        if line.startswith("diff --git "):
            patch, i = _git_header(lines, i)
        elif _traditional_at(lines, i):
            patch = _traditional(lines[i], lines[i + 1])
            i += 2
        else:
            i += 1
            continue
        while i < len(lines) and lines[i].startswith("@@ -"):
            hunk, i = _fragment(lines, i)
            patch.hunks.append(hunk)
        if i < len(lines) and lines[i].startswith(("GIT binary patch", "Binary files ")):
            patch.binary = True
        _settle(patch)
        patches.append(patch)
    if not patches:
        raise PatchError("no valid patches in input")
    return patches


def _traditional_at(lines: list[str], i: int) -> bool:
    return (
        i + 2 < len(lines)
        and lines[i].startswith("--- ")
        and lines[i + 1].startswith("+++ ")
        and lines[i + 2].startswith("@@ -")
    )


def _name(raw: str, strip: bool = True) -> str | None:
    name = raw.removesuffix("\n").split("\t")[0].rstrip()
    if len(name) > 1 and name[0] == name[-1] == '"':
        name = name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        name = name.encode("latin-1").decode("utf-8", "replace")
    if name == "/dev/null":
        return None
    if strip and "/" in name:
        name = name.split("/", 1)[1]
    return name.lstrip("/")


def _traditional(first: str, second: str) -> ExactPatch:
    old, new = _name(first[4:]), _name(second[4:])
    if old is None:
        return ExactPatch(None, new, is_new=1, is_delete=0)
    if new is None:
        return ExactPatch(old, None, is_new=0, is_delete=1)
    name = old if len(old) < len(new) else new  # git prefers the shorter name
    return ExactPatch(name, name)


def _git_header(lines: list[str], i: int) -> tuple[ExactPatch, int]:
    rest = lines[i][len("diff --git ") :].removesuffix("\n")
    half = len(rest) // 2  # "a/NAME b/NAME": the two halves name the same file
    first, second = rest[:half], rest[half + 1 :]
    same = first.split("/", 1)[-1] == second.split("/", 1)[-1]
    name = _name(first if same else rest.split(" ", 1)[0])
    patch = ExactPatch(name, name)
    i += 1
    while i < len(lines) and lines[i].startswith(_EXTENDED):
        line = lines[i].removesuffix("\n")
        if line.startswith("--- "):
            patch.old_path = _name(line[4:])
            patch.is_new = 1 if patch.old_path is None else patch.is_new
        elif line.startswith("+++ "):
            patch.new_path = _name(line[4:])
            patch.is_delete = 1 if patch.new_path is None else patch.is_delete
        elif line.startswith("new file mode "):
            patch.is_new, patch.old_path = 1, None
        elif line.startswith("deleted file mode "):
            patch.is_delete, patch.new_path = 1, None
        elif line.startswith(("rename from ", "copy from ")):
            patch.old_path = _name(line.split(" ", 2)[2], strip=False)
            patch.keeps_old = line.startswith("copy")
        elif line.startswith(("rename to ", "copy to ")):
            patch.new_path = _name(line.split(" ", 2)[2], strip=False)
        i += 1
    return patch, i


def _fragment(lines: list[str], i: int) -> tuple[ExactHunk, int]:
    match = _FRAGMENT_RE.match(lines[i])
    if not match:
        raise PatchError(f"corrupt patch at line {i + 1}")
    old_start, old_count = int(match.group(1)), int(match.group(2) or 1)
    new_start, new_count = int(match.group(3)), int(match.group(4) or 1)
    hunk = ExactHunk(lines[i].strip(), old_start, new_start, old_count, new_count)
    old_left, new_left, changed = old_count, new_count, False
    body: list[str] = []
    i += 1
    while i < len(lines) and (old_left or new_left):
        line = lines[i]
        if not line.endswith("\n") or line[0] not in " \n-+\\":
            raise PatchError(f"corrupt patch at line {i + 1}")
        if line[0] in " \n":
            old_left, new_left = old_left - 1, new_left - 1
            hunk.leading += not changed
            hunk.trailing += 1
        elif line[0] in "-+":
            old_left -= line[0] == "-"
            new_left -= line[0] == "+"
            changed, hunk.trailing = True, 0
        elif len(line) < 12 or not line.startswith("\\ "):
            raise PatchError(f"corrupt patch at line {i + 1}")
        body.append(line)
        i += 1
    if old_left or new_left or not changed:
        raise PatchError(f"corrupt patch at line {i + 1}")
    if i < len(lines) and lines[i].startswith("\\ ") and len(lines[i]) > 12:
        body.append(lines[i])
        i += 1
    for k, line in enumerate(body):
        if line[0] == "\\":
            continue
        text = line[1:] if line[0] != "\n" else "\n"
        if k + 1 < len(body) and body[k + 1][0] == "\\":
            text = text.removesuffix("\n")
        if line[0] in " \n-":
            hunk.pre.append(text)
        if line[0] in " \n+":
            hunk.post.append(text)
    hunk.bare = not any(line[0] in " \n" for line in body)
    return hunk, i


def _settle(patch: ExactPatch) -> None:
    old_lines = sum(h.old_count for h in patch.hunks)
    new_lines = sum(h.new_count for h in patch.hunks)
    several = len(patch.hunks) > 1
    if patch.is_new < 0 and (old_lines or several):
        patch.is_new = 0
    if patch.is_delete < 0 and (new_lines or several):
        patch.is_delete = 0
    name = patch.new_path or patch.old_path
    if patch.is_new > 0 and old_lines:
        raise PatchError(f"new file {name} depends on old contents")
    if patch.is_delete > 0 and new_lines:
        raise PatchError(f"deleted file {name} still has contents")


# ---------------------------------------------------------------------------- apply


def apply(
    files: Mapping[str, str | None], patches: list[ExactPatch], *, float_bare: bool = False
) -> tuple[dict[str, str | None], list[str]]:
    """The new content of every path the patches touch (None: deleted) and notes on hunks
    applied away from their stated line. `files` holds the current content of those paths."""
    state = dict(files)
    touched: list[str] = []
    notes: list[str] = []
    for patch in patches:
        name = patch.new_path or patch.old_path or ""
        if patch.binary:
            raise PatchError(f"{name}: binary patches are not supported", path=name)
        old = state.get(patch.old_path) if patch.old_path is not None else None
        if patch.is_new < 0 and old is None:
            patch.is_new, patch.old_path = 1, None
        if patch.is_new > 0:
            if state.get(name) is not None:
                raise PatchError(f"{name} already exists", path=name)
            old = ""
        elif old is None:
            raise PatchError(f"{patch.old_path}: no such file", path=patch.old_path or "")
        target = patch.new_path
        renamed = target is not None and patch.old_path not in (None, target)
        if renamed and target is not None and state.get(target) is not None:
            raise PatchError(f"{target} already exists", path=name)
        new = _apply_hunks(old, patch, float_bare, notes)
        if patch.is_delete > 0 and new:
            raise PatchError(f"removal patch leaves {name} with contents", path=name)
        moved_away = patch.is_delete > 0 or (renamed and not patch.keeps_old)
        if patch.old_path is not None and moved_away:
            state[patch.old_path] = None
            touched.append(patch.old_path)
        if patch.new_path is not None and patch.is_delete <= 0:
            state[patch.new_path] = new
            touched.append(patch.new_path)
    return {p: state[p] for p in dict.fromkeys(touched)}, notes


def _apply_hunks(content: str, patch: ExactPatch, float_bare: bool, notes: list[str]) -> str:
    img = split_lines(content)
    patched = [False] * len(img)
    path = patch.new_path or patch.old_path or ""
    delta = 0  # lines added minus removed by the hunks before
    for number, hunk in enumerate(patch.hunks, 1):
        bare = float_bare and hunk.bare
        begin = hunk.old_start == 0 or (hunk.old_start == 1 and not bare)
        # "@@ -0,0" adds to an empty file: never placed at the top of one with content
        end = (not bare or hunk.old_start == 0) and hunk.trailing == 0
        start = hunk.new_start - 1 if hunk.new_start else 0
        places = _search(len(img), start, begin, end, len(hunk.pre))
        at = next((n for n in places if _matches(img, patched, hunk.pre, n, end)), -1)
        if at < 0:
            raise _failed(img, hunk, path, number)
        img[at : at + len(hunk.pre)] = hunk.post
        patched[at : at + len(hunk.pre)] = [True] * len(hunk.post)
        # a hunk with an old side names its first line; one that only adds, the line before
        expected = hunk.old_start - (1 if hunk.pre else 0) + delta
        if at != max(expected, 0):
            notes.append(
                f"{path}, hunk {number} ({hunk.header}): applied at line {at + 1 - (not hunk.pre)}"
                f" (the patch says line {hunk.old_start})"
            )
        delta += len(hunk.post) - len(hunk.pre)
    return "".join(img)


def _search(size: int, line: int, begin: bool, end: bool, length: int) -> Iterator[int]:
    """git's find_pos order: the starting line, then one after, one before, two after, ...
    A hunk bound to the beginning or the end of the file has one place to be."""
    if begin or end:
        place = 0 if begin else size - length
        if place >= 0:
            yield place
        return
    line = min(max(line, 0), size)
    yield line
    forward = backward = line
    while backward > 0 or forward < size:
        if forward < size:
            forward += 1
            yield forward
        if backward > 0:
            backward -= 1
            yield backward


def _matches(img: list[str], patched: list[bool], pre: list[str], at: int, end: bool) -> bool:
    n = len(pre)
    if at + n > len(img) or (end and at + n != len(img)):
        return False
    for k in range(n):
        if patched[at + k] or pre[k].translate(_WS) != img[at + k].translate(_WS):
            return False
    wanted = "".join(pre)
    if end:
        return "".join(img[at:]) == wanted
    return "".join(img[at : at + n + 1]).startswith(wanted)


def _failed(img: list[str], hunk: ExactHunk, path: str, number: int) -> PatchError:
    where = f"{path}, hunk {number} ({hunk.header})"
    best = closest_match(img, hunk.pre) if hunk.pre else None
    if best is None:
        return PatchError(
            f"{where} does not apply: its context and removed lines are not in the file as "
            "written (or not where a hunk at the start or end of the file must be)",
            path=path,
            hunk=number,
        )
    window = img[best.start : best.start + len(hunk.pre)]
    shown = numbered(window, best.start + 1)
    return PatchError(
        f"{where} does not apply: its context and removed lines are not in the file as written. "
        f"The closest lines are {best.start + 1}-{best.start + len(window)}:\n{shown}",
        path=path,
        hunk=number,
        closest=shown,
        line=best.start + 1,
    )
