"""SEARCH/REPLACE edits, in Aider's block format: apply one search and replace to a file's
content (edit_parse reads the blocks out of a model's answer). Pure: strings in, strings out.

Matching is exact first; failing that, line by line ignoring indentation and trailing spaces,
with the replacement re-indented the way the matched lines are. A search that matches more than
one place is refused (more context makes it unique); one that matches nowhere is refused with the
closest lines of the file, so the model can correct itself."""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.errors import InvalidInput

SEARCH = "<<<<<<< SEARCH"
DIVIDER = "======="
REPLACE = ">>>>>>> REPLACE"
_FENCE_OPEN_RE = re.compile(r"^\s*(`{3,}|~{3,})[^`]*$")
_WORD_RE = re.compile(r"\w+")
MIN_SIMILARITY = 0.5  # below this, "closest match" would mislead more than help
_CANDIDATES = 12  # windows compared character by character when looking for the closest match


class EditError(InvalidInput):
    """An edit that cannot be applied. `closest` is the most similar part of the file (numbered
    lines, '' when nothing is similar) and `line` its first line; `matches` lists the first lines
    of every match when the search was ambiguous."""

    code = "edit_failed"

    def __init__(
        self,
        message: str,
        *,
        closest: str = "",
        line: int | None = None,
        matches: tuple[int, ...] = (),
    ) -> None:
        super().__init__(message)
        self.closest, self.line, self.matches = closest, line, matches


@dataclass(frozen=True)
class EditBlock:
    """One SEARCH/REPLACE block of a model's answer (see edit_parse); `number` is its place
    among the answer's blocks and `line` the line of its SEARCH marker, both 1-based."""

    path: str
    search: str
    replace: str
    number: int = field(default=0, compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Applied:
    """The new content, and where the replacement landed in it (1-based, inclusive lines)."""

    content: str
    start_line: int
    end_line: int
    tolerant: bool  # matched only after ignoring indentation and trailing whitespace


@dataclass(frozen=True)
class Closest:
    start: int  # 0-based index of the first line of the most similar window
    ratio: float


# ---------------------------------------------------------------------------- text helpers


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split at "\\n" only: str.splitlines also splits at form feeds
    and Unicode line separators, which source files do contain."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def body(line: str) -> str:
    return line.removesuffix("\n").removesuffix("\r")


def newline_of(text: str) -> str:
    """The file's usual line ending: CRLF when most of its lines end so, else LF."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def numbered(lines: Sequence[str], first: int) -> str:
    """Lines (with or without endings) prefixed by their 1-based numbers, starting at `first`."""
    width = len(str(first + len(lines)))
    return "".join(f"{n:>{width}} | {body(line)}\n" for n, line in enumerate(lines, first))


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def reindent(lines: Sequence[str], pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Re-indents `lines` (written by the model) the way `pairs` of (indent the model wrote,
    indent the file has) say the model's indentation differs from the file's: by one prefix
    added or removed everywhere, or failing that by a mapping from one indent to the other."""
    prefixes = {c[: len(c) - len(s)] for s, c in pairs if c.endswith(s)}
    if len(prefixes) == 1 and all(c.endswith(s) for s, c in pairs):
        add = prefixes.pop()
        return [add + line if line.strip() else line for line in lines]
    prefixes = {s[: len(s) - len(c)] for s, c in pairs if s.endswith(c)}
    if len(prefixes) == 1 and all(s.endswith(c) for s, c in pairs):
        cut = prefixes.pop()
        return [line.removeprefix(cut) if line.startswith(cut) else line.lstrip() for line in lines]
    mapping: dict[str, str] = {}
    for written, actual in pairs:
        mapping.setdefault(written, actual)
    out = []
    for line in lines:
        indent = _indent(line)
        keys = [k for k in mapping if indent.startswith(k)]
        if not line.strip() or not keys:
            out.append(line)
            continue
        key = max(keys, key=len)
        out.append(mapping[key] + line[len(key) :])
    return out


def closest_match(lines: Sequence[str], target: Sequence[str]) -> Closest | None:
    """The window of len(target) lines most similar to `target`, ignoring indentation; None when
    nothing reaches MIN_SIMILARITY. Windows sharing the most words with the target are compared
    in full, which keeps this fast on long files."""
    n = len(target)
    if not n or len(lines) < 1:
        return None
    n = min(n, len(lines))
    keys = [body(line).strip() for line in lines]
    wanted = "\n".join(body(t).strip() for t in target)
    words = set(_WORD_RE.findall(wanted))
    line_score = [sum(w in words for w in _WORD_RE.findall(k)) for k in keys]
    window = sum(line_score[:n])
    scores = [(window, 0)]
    for start in range(1, len(keys) - n + 1):
        window += line_score[start + n - 1] - line_score[start - 1]
        scores.append((window, start))
    scores.sort(key=lambda s: (-s[0], s[1]))
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(wanted)
    best: Closest | None = None
    for _, start in scores[:_CANDIDATES]:
        matcher.set_seq1("\n".join(keys[start : start + n]))
        floor = max(MIN_SIMILARITY, best.ratio if best else 0.0)
        if matcher.quick_ratio() < floor:  # an upper bound of ratio(), far cheaper
            continue
        ratio = matcher.ratio()
        if ratio >= floor and (best is None or ratio > best.ratio):
            best = Closest(start, ratio)
    return best


# ---------------------------------------------------------------------------- apply


def apply_block(content: str, block: EditBlock) -> Applied:
    """Applies a parsed block. When its search text is not found as written, and the model
    wrapped a section in a code fence or repeated the file's name on its first line (as Aider
    tolerates), the block is tried again without that wrapping."""
    try:
        return apply_edit(content, block.search, block.replace)
    except EditError as as_written:
        search, replace = unwrap(block.search, block.path), unwrap(block.replace, block.path)
        if search == block.search or not search.strip():
            raise
        try:
            return apply_edit(content, search, replace)
        except EditError:
            raise as_written from None  # the error about what the model wrote, not our guess


def unwrap(section: str, path: str) -> str:
    """`section` without a first line that only names `path`, and without a code fence that
    wraps all of it."""
    lines = section.split("\n")[:-1] if section.endswith("\n") else section.split("\n")
    name = lines[0].strip().strip("`*#:").strip() if lines else ""
    if name and name in (path, posixpath.basename(path)):
        lines = lines[1:]
    if len(lines) >= 2:
        opener = _FENCE_OPEN_RE.match(lines[0])
        closer = lines[-1].strip()
        fence = opener.group(1) if opener else ""
        if fence and set(closer) == {fence[0]} and len(closer) >= len(fence):
            lines = lines[1:-1]
    return "".join(line + "\n" for line in lines)


def apply_edit(content: str, search: str, replace: str) -> Applied:
    """Replaces the one place `search` occurs in `content` with `replace`. Line endings in
    `search` and `replace` may be LF whatever the file uses; the file's own are kept."""
    if not search.strip():
        if content.strip():
            raise EditError(
                "the search text is empty: copy the lines to change from the file (to replace "
                "the whole file, create it again with overwrite)"
            )
        return _result(content, 0, len(content), replace.replace("\n", newline_of(content)), False)
    nl = newline_of(content)
    search_lf, replace_lf = search.replace("\r\n", "\n"), replace.replace("\r\n", "\n")
    if search_lf.endswith("\n") and replace_lf and not replace_lf.endswith("\n"):
        replace_lf += "\n"  # whole lines replaced by whole lines, not glued to the next one
    wanted = search_lf.replace("\n", nl)
    found = _find_all(content, wanted)
    if "\n" in wanted:  # several lines: a match must not start in the middle of a line
        found = [at for at in found if not content[content.rfind("\n", 0, at) + 1 : at].strip()]
    if len(found) == 1:
        at = found[0]
        indent = content[content.rfind("\n", 0, at) + 1 : at]
        first, *rest = replace_lf.split("\n")
        multi = "\n" in search_lf.rstrip("\n")
        if not indent or indent.strip() or multi or not any(r.strip() for r in rest):
            return _result(content, at, len(wanted), replace_lf.replace("\n", nl), False)
        # One line found without its indentation: the replacement's further lines are
        # indented relative to it, as the model wrote it.
        rest = [indent + r if r.strip() else r for r in rest]
        return _result(content, at, len(wanted), nl.join([first, *rest]), True)
    if len(found) > 1:
        raise _ambiguous([content.count("\n", 0, at) + 1 for at in found])
    return _apply_tolerant(content, search_lf, replace_lf, nl)


def _apply_tolerant(content: str, search: str, replace: str, nl: str) -> Applied:
    lines = split_lines(content)
    keys = [body(line).strip() for line in lines]
    wanted = search.split("\n")[:-1] if search.endswith("\n") else search.split("\n")
    new = replace.split("\n")[:-1] if replace.endswith("\n") else replace.split("\n")
    new = [] if replace == "" else new
    starts = _find_lines(keys, [w.strip() for w in wanted])
    lead, trail = _blank_ends(wanted)
    if not starts and lead + trail:  # models add blank lines around blocks; retry without
        wanted = wanted[lead : len(wanted) - trail]
        if new[:lead] == [""] * lead and new[len(new) - trail :] == [""] * trail:
            new = new[lead : len(new) - trail]
        starts = _find_lines(keys, [w.strip() for w in wanted])
    if len(starts) > 1:
        raise _ambiguous([s + 1 for s in starts])
    if not starts:
        raise _not_found(lines, wanted)
    start, end = starts[0], starts[0] + len(wanted)
    pairs = [(_indent(w), _indent(body(lines[start + k]))) for k, w in enumerate(wanted)]
    new = reindent(new, [p for p, w in zip(pairs, wanted, strict=True) if w.strip()])
    at = sum(len(line) for line in lines[:start])
    old_len = sum(len(line) for line in lines[start:end])
    text = nl.join(new) + (nl if new and lines[end - 1].endswith("\n") else "")
    return _result(content, at, old_len, text, True)


def _result(content: str, at: int, old_len: int, text: str, tolerant: bool) -> Applied:
    start_line = content.count("\n", 0, at) + 1
    shown = len(split_lines(text))
    return Applied(
        content=content[:at] + text + content[at + old_len :],
        start_line=start_line,
        end_line=start_line + max(shown - 1, 0),
        tolerant=tolerant,
    )


def _find_all(content: str, wanted: str) -> list[int]:
    found, at = [], content.find(wanted)
    while at >= 0:
        found.append(at)
        at = content.find(wanted, at + 1)
    return found


def _find_lines(keys: list[str], wanted: list[str]) -> list[int]:
    n = len(wanted)
    if not n:
        return []
    return [
        s for s in range(len(keys) - n + 1) if keys[s] == wanted[0] and keys[s : s + n] == wanted
    ]


def _blank_ends(lines: list[str]) -> tuple[int, int]:
    """How many blank lines `lines` starts and ends with (it has a non-blank one)."""
    lead = next(i for i, line in enumerate(lines) if line.strip())
    trail = next(i for i, line in enumerate(reversed(lines)) if line.strip())
    return lead, trail


def _ambiguous(line_numbers: list[int]) -> EditError:
    shown = ", ".join(map(str, line_numbers[:10])) + (" ..." if len(line_numbers) > 10 else "")
    return EditError(
        f"the search text matches {len(line_numbers)} places (starting at lines {shown}); "
        "include more of the surrounding lines so that it matches exactly one",
        line=line_numbers[0],
        matches=tuple(line_numbers),
    )


def _not_found(lines: list[str], wanted: list[str]) -> EditError:
    best = closest_match(lines, wanted)
    if best is None:
        return EditError(
            "the search text is not in the file, not even ignoring indentation and trailing "
            "spaces, and nothing in the file is similar: view the file to see its current "
            "content, then copy the lines to change exactly"
        )
    window = lines[best.start : best.start + len(wanted)]
    first, last = best.start + 1, best.start + len(window)
    shown = numbered(window, first)
    return EditError(
        "the search text is not in the file, not even ignoring indentation and trailing "
        f"spaces. The closest match is lines {first}-{last} ({best.ratio:.0%} similar):\n"
        f"{shown}Copy the lines to change exactly as the file has them and try again.",
        closest=shown,
        line=first,
    )
