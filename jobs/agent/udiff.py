"""Unified diffs as models write them: parse, then apply with fuzz. Pure: no IO.

Models get line numbers wrong, drop the space in front of empty context lines, strip trailing
spaces and shift indentation. So a hunk is placed by its content (nearest its stated line),
first exactly, then ignoring whitespace, then with up to two context lines at either edge left
out; a hunk that cannot be placed is an error naming the file, the hunk and the closest lines."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from jobs.agent.edits import body, closest_match, newline_of, numbered, reindent, split_lines
from shared.errors import InvalidInput

_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_FUZZ = ((1, 0), (0, 1), (1, 1), (2, 0), (0, 2), (2, 1), (1, 2), (2, 2))  # context lines dropped


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


# ---------------------------------------------------------------------------- apply


def apply_patch(files: Mapping[str, str | None], patch: str) -> dict[str, str | None]:
    """The new content of every file `patch` touches (None: deleted). `files` holds the current
    content of those files; a path that is missing or None does not exist."""
    return apply_patches(files, parse_patch(patch)).files


def apply_patches(files: Mapping[str, str | None], patches: list[FilePatch]) -> Patched:
    state = dict(files)
    touched: list[str] = []
    notes: list[str] = []
    for patch in patches:
        path = patch.path
        if patch.binary:
            raise PatchError(f"{path}: binary patches are not supported", path=path)
        old = state.get(patch.old_path) if patch.old_path is not None else None
        if patch.old_path is None:
            if state.get(path):
                raise PatchError(
                    f"{path} already exists, so the patch cannot create it: write a diff "
                    f"against its current content ('--- a/{path}') instead",
                    path=path,
                )
            old = ""
        elif old is None:
            raise PatchError(
                f"{patch.old_path} does not exist; to create it use '--- /dev/null'",
                path=patch.old_path,
            )
        if not patch.hunks and patch.old_path is not None and patch.new_path == patch.old_path:
            raise PatchError(f"the patch for {path} has no hunks ('@@' lines)", path=path)
        new = _apply_file(patch, old, notes)
        if patch.old_path is not None and patch.old_path != patch.new_path:
            state[patch.old_path] = None  # deleted or renamed away
            touched.append(patch.old_path)
        if patch.new_path is not None:
            renamed = patch.old_path not in (None, patch.new_path)
            if renamed and state.get(patch.new_path) is not None:
                raise PatchError(f"cannot rename onto {patch.new_path}: it exists", path=path)
            state[patch.new_path] = new
            touched.append(patch.new_path)
    return Patched({p: state[p] for p in dict.fromkeys(touched)}, notes)


def _apply_file(patch: FilePatch, content: str, notes: list[str]) -> str:
    lines = split_lines(content)
    nl = newline_of(content)
    final_newline = content.endswith("\n") or not content
    floor = offset = 0
    for number, hunk in enumerate(patch.hunks, 1):
        where = f"{patch.path}, hunk {number} ({hunk.header.strip()})"
        if not hunk.lines:
            raise PatchError(f"{where} is empty", path=patch.path, hunk=number)
        adds_only = not hunk.side(" -")
        if adds_only and hunk.old_start is None and lines:
            raise PatchError(
                f"{where} only adds lines and has no line numbers, so there is no telling where "
                "they go: include a few unchanged lines around them as context",
                path=patch.path,
                hunk=number,
            )
        # A hunk that only adds lines names the line they follow; any other, its first line.
        declared = 0 if hunk.old_start is None else hunk.old_start - (not adds_only)
        expected = floor if hunk.old_start is None else max(declared + offset, 0)
        at, used, how, lead = _place(lines, hunk, expected, floor)
        if at is None:
            raise _unplaced(lines, hunk, where, patch.path, number)
        old = [text for tag, text in used if tag in " -"]
        actual = lines[at : at + len(old)]
        pairs = [(_lead(w), _lead(body(a))) for w, a in zip(old, actual, strict=True) if w.strip()]
        region: list[str] = []
        k = 0
        for tag, text in used:
            if tag == "+":
                region.append(reindent([text], pairs)[0] + nl)
            else:
                if tag == " ":
                    region.append(actual[k])
                k += 1
        reaches_end = at + len(old) == len(lines)
        lines[at : at + len(old)] = region
        if reaches_end:
            final_newline = not hunk.new_no_eol
        moved = hunk.old_start is not None and at - lead != expected
        if how or moved:
            stated = f" (the patch says line {hunk.old_start})" if moved else ""
            notes.append(f"{where}: applied at line {at - lead + 1}{stated}{how}")
        floor = at + len(region)
        if hunk.old_start is not None:
            offset = at - lead - declared + len(region) - len(old)
    return _join(lines, nl, final_newline)


def _place(
    lines: list[str], hunk: Hunk, expected: int, floor: int
) -> tuple[int | None, list[tuple[str, str]], str, int]:
    """Where the hunk's old side is in `lines`, the hunk lines used (fuzz drops context at the
    edges), how it was found ('' when exactly) and how many leading lines fuzz dropped."""
    if not hunk.side(" -"):  # only additions: they go where the patch says
        return min(expected, len(lines)), hunk.lines, "", 0
    keys = [body(line) for line in lines]
    stripped = [k.strip() for k in keys]
    for drop in ((0, 0), *_FUZZ):
        used = _drop_context(hunk.lines, *drop)
        if used is None:
            continue
        old = [text for tag, text in used if tag in " -"]
        if not old:
            continue
        fuzz = f", ignoring {sum(drop)} context line{'s' * (sum(drop) > 1)}" if sum(drop) else ""
        for haystack, wanted, how in (
            (keys, old, ""),
            (stripped, [w.strip() for w in old], ", ignoring whitespace"),
        ):
            found = _occurrences(haystack, wanted)
            if not found or (fuzz and len(found) > 1):  # less context must still be unique
                continue
            after = [s for s in found if s >= floor]  # before it: hunks out of order
            return _nearest(after or found, expected + drop[0]), used, how + fuzz, drop[0]
    return None, hunk.lines, "", 0


def _drop_context(
    lines: list[tuple[str, str]], lead: int, trail: int
) -> list[tuple[str, str]] | None:
    edge = lines[:lead] + lines[len(lines) - trail :] if trail else lines[:lead]
    if lead + trail >= len(lines) or any(tag != " " for tag, _ in edge):
        return None
    return lines[lead : len(lines) - trail]


def _occurrences(haystack: list[str], wanted: list[str]) -> list[int]:
    n = len(wanted)
    return [
        s
        for s in range(len(haystack) - n + 1)
        if haystack[s] == wanted[0] and haystack[s : s + n] == wanted
    ]


def _nearest(found: list[int], expected: int) -> int:
    return min(found, key=lambda s: (abs(s - expected), s))


def _lead(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _join(lines: list[str], nl: str, final_newline: bool) -> str:
    fixed = [line if line.endswith("\n") else line + nl for line in lines]
    if fixed and not final_newline:
        fixed[-1] = body(fixed[-1])
    return "".join(fixed)


def _unplaced(lines: list[str], hunk: Hunk, where: str, path: str, number: int) -> PatchError:
    old = hunk.side(" -")
    best = closest_match(lines, old)
    if best is None:
        return PatchError(
            f"{where}: its context and removed lines are not in the file, and nothing there is "
            "similar; view the file and write the hunk against its current content",
            path=path,
            hunk=number,
        )
    window = lines[best.start : best.start + len(old)]
    shown = numbered(window, best.start + 1)
    return PatchError(
        f"{where}: its context and removed lines are not in the file, not even ignoring "
        f"whitespace. The closest lines are {best.start + 1}-{best.start + len(window)} "
        f"({best.ratio:.0%} similar):\n{shown}Write the hunk against these lines as they are.",
        path=path,
        hunk=number,
        closest=shown,
        line=best.start + 1,
    )
