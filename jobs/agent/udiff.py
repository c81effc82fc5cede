"""Unified diffs as models write them: parse, then apply. Pure: no IO.

A patch is first applied exactly as `git apply` would (git_apply), so whatever git accepts gives
git's bytes. Only when git would refuse it, and fuzz is on (the default, for model-written
patches), is it applied leniently: models get line numbers and counts wrong, drop the space in
front of empty context lines, strip trailing spaces and shift indentation. Then a hunk is placed
by its content (nearest its stated line), exactly, then ignoring whitespace, then with up to two
context lines at either edge of the hunk left out -- never where the left-out lines would be at
the start or the end of the file, where a mismatch means the hunk is not for this file as it is.
Creating a file that exists, a new-file hunk (`@@ -0,0`) over a file with content and a deletion
that leaves lines are refused in both modes. A hunk that cannot be placed is an error naming the
file, the hunk and the closest lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from jobs.agent import git_apply
from jobs.agent.edits import body, closest_match, newline_of, numbered, reindent, split_lines
from jobs.agent.git_apply import ExactPatch
from jobs.agent.git_apply import PatchError as PatchError
from jobs.agent.udiff_parse import FilePatch as FilePatch
from jobs.agent.udiff_parse import Hunk, Patched
from jobs.agent.udiff_parse import parse_patch as parse_patch

_FUZZ = ((1, 0), (0, 1), (1, 1), (2, 0), (0, 2), (2, 1), (1, 2), (2, 2))  # context lines dropped


# ---------------------------------------------------------------------------- apply


def apply_patch(
    files: Mapping[str, str | None], patch: str, *, fuzz: bool = True
) -> dict[str, str | None]:
    """The new content of every file `patch` touches (None: deleted). `files` holds the current
    content of those files; a path that is missing or None does not exist. Without fuzz, this
    is `git apply`, file names included."""
    if not fuzz:
        return git_apply.apply(files, git_apply.parse(patch))[0]
    return apply_patches(files, parse_patch(patch)).files


def apply_patches(
    files: Mapping[str, str | None], patches: list[FilePatch], *, fuzz: bool = True
) -> Patched:
    """Applies parsed patches to `files` (see apply_patch), all or nothing: as git would if it
    can, else (with fuzz) leniently."""
    exact: list[ExactPatch] = []
    for patch in patches:
        if patch.exact is not None:
            exact.append(
                replace(
                    patch.exact,
                    old_path=patch.old_path if patch.exact.old_path is not None else None,
                    new_path=patch.new_path if patch.exact.new_path is not None else None,
                )
            )
    if len(exact) == len(patches):
        try:
            return Patched(*git_apply.apply(files, exact, float_bare=fuzz))
        except PatchError:
            if not fuzz:
                raise
    elif not fuzz:
        raise PatchError(next(p.exact_error for p in patches if p.exact is None))
    return _apply_leniently(files, patches)


def _apply_leniently(files: Mapping[str, str | None], patches: list[FilePatch]) -> Patched:
    state = dict(files)
    touched: list[str] = []
    notes: list[str] = []
    for patch in patches:
        path = patch.path
        if patch.binary:
            raise PatchError(f"{path}: binary patches are not supported", path=path)
        old = state.get(patch.old_path) if patch.old_path is not None else None
        if patch.old_path is None:
            if state.get(path) is not None:
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
        if patch.new_path is None and new:
            raise PatchError(
                f"the patch deletes {path} but its hunks leave {len(split_lines(new))} of its "
                "lines: remove every line of the file ('-' lines for all of it)",
                path=path,
            )
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
        if adds_only and hunk.old_start == 0 and lines and patch.old_path is not None:
            raise PatchError(
                f"{where} adds lines at the start of an empty file ('@@ -0,0'), but "
                f"{patch.path} has {len(lines)} lines: give the line to insert after and a few "
                "unchanged lines around it as context",
                path=patch.path,
                hunk=number,
            )
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
            if drop[0]:  # left-out context must not be where the file starts...
                found = [s for s in found if s - drop[0] > 0]
            if drop[1]:  # ...or ends: the hunk would not be for this file as it is
                found = [s for s in found if s + len(old) + drop[1] < len(haystack)]
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
