"""Reading SEARCH/REPLACE blocks out of a model's answer. Pure: text in, blocks and problems out.

Everything Aider's parser reads is read the same way: markers of 5 to 9 characters, the file
named on a line above the block (behind code fences), a block without a name editing the
previous block's file, a second divider closing a block as its REPLACE marker would. Beyond
that: wrapper lines such as `<source>python` between the name and the block, fences of any
style (```lang, ````, ~~~), names quoted, bolded, backticked, in a heading, after a label or
followed by a colon. A malformed block does not spoil the others: it comes back as a
BlockProblem saying which block, what was wrong and what to send instead, and the rest of the
answer is read on from the next SEARCH marker."""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Collection
from dataclasses import dataclass

from jobs.agent.edits import DIVIDER, REPLACE, SEARCH, EditBlock, EditError

SEARCH_RE = re.compile(r"^\s*<{5,9} ?SEARCH\s*$")
DIVIDER_RE = re.compile(r"^\s*={5,9}\s*$")
REPLACE_RE = re.compile(r"^\s*>{5,9} ?REPLACE\s*$")
# a code fence, with what follows it (a language, sometimes a path)
FENCE_RE = re.compile(r"^\s*(?:`{3,}|~{3,})\s*([^`]*?)\s*$")
# an XML-ish wrapper some models put around blocks: <source>python, <code>, </edit>, <file ...>
WRAPPER_RE = re.compile(r"^\s*</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>\s*[\w+#.-]*\s*$")
_ATTR_PATH_RE = re.compile(r"""\b(?:path|file|filename|name)\s*=\s*["']([^"']+)["']""")
_LABEL_RE = re.compile(r"^(?:(?:file|filename|file name|path|file path)\s*:\s*)", re.I)
_LIST_RE = re.compile(r"^(?:[-*+]|\d+[.)])\s+")
_QUOTED_RE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\"([^\"]+)\"|'([^']+)'")
_PATHLIKE_RE = re.compile(r"^[\w.@+-]*[\w@+-](?:/[\w.@+-]+)*$")
_HAS_EXT_RE = re.compile(r"[/\\]|\.[A-Za-z0-9_]{1,10}$")
LOOK_BACK = 5  # lines above a SEARCH marker searched for its file's name
FUZZY_CUTOFF = 0.8  # Aider's: a misspelt name close enough to one known path is taken as it

SHAPE = (
    "PATH/OF/THE/FILE\n"
    f"{SEARCH}\n(the lines to find, copied exactly)\n{DIVIDER}\n(the new lines)\n{REPLACE}"
)


@dataclass(frozen=True)
class BlockProblem:
    """A block that could not be read: its number among the answer's blocks (1-based), the line
    of its SEARCH marker (1-based), and a message for the model."""

    number: int
    line: int
    message: str


@dataclass(frozen=True)
class Parsed:
    blocks: tuple[EditBlock, ...]
    problems: tuple[BlockProblem, ...]


def parse_answer(text: str, known_paths: Collection[str] = ()) -> Parsed:
    """Every SEARCH/REPLACE block in `text`, in order, and a problem for each malformed one.
    `known_paths` (the repository's files, optional) lets a name given by its base name or
    slightly misspelt be resolved the way Aider resolves it; a new file's name is taken as is."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    blocks: list[EditBlock] = []
    problems: list[BlockProblem] = []
    current = ""  # the file of the last block that named one
    number, i = 0, 0
    while i < len(lines):
        if not SEARCH_RE.match(lines[i]):
            i += 1
            continue
        number, start = number + 1, i
        while i + 1 < len(lines) and SEARCH_RE.match(lines[i + 1]):
            i += 1  # a repeated marker line is one marker
        named = name_above(lines, start)
        found = _sections(lines, i)
        search = "" if isinstance(found, Trouble) else found[0]
        path = resolve(named, known_paths, new_file=not search.strip()) if named else current
        current = path or current
        if isinstance(found, Trouble):
            trouble, i = found.what, found.resume
        elif not path:
            trouble, i = (
                (
                    "names no file: put the file's path alone on the line just above "
                    f"{SEARCH} (or above the code fence that holds the block)"
                ),
                found[2],
            )
        else:
            blocks.append(EditBlock(path, search, found[1], number=number, line=start + 1))
            i = found[2]
            continue
        where = f" ({path})" if path else ""
        message = (
            f"block {number}{where}, starting at line {start + 1}, {trouble}. It was not "
            f"applied; send it again in this shape:\n{SHAPE}"
        )
        problems.append(BlockProblem(number, start + 1, message))
    return Parsed(tuple(blocks), tuple(problems))


def parse_blocks(text: str, known_paths: Collection[str] = ()) -> list[EditBlock]:
    """The blocks of `text`, all or nothing: EditError naming every malformed block."""
    parsed = parse_answer(text, known_paths)
    if parsed.problems:
        raise EditError("\n".join(p.message for p in parsed.problems))
    return list(parsed.blocks)


@dataclass(frozen=True)
class Trouble:
    what: str
    resume: int  # where to read on: the next SEARCH marker, or the end


def _sections(lines: list[str], marker: int) -> tuple[str, str, int] | Trouble:
    """The search and replace text of the block whose SEARCH marker is lines[marker], and the
    index to read on from. The block ends at its REPLACE marker, or failing one before the next
    SEARCH marker, at a second divider (as Aider reads it). Divider-like lines that are text,
    such as a reStructuredText underline, stay text where the markers show it: among several
    dividers before REPLACE the one written as DIVIDER exactly divides; one followed by more
    lines before REPLACE is part of the new lines."""
    stop = next((k for k in range(marker + 1, len(lines)) if SEARCH_RE.match(lines[k])), len(lines))
    closer = next((k for k in range(marker + 1, stop) if REPLACE_RE.match(lines[k])), None)
    dividers = [k for k in range(marker + 1, closer or stop) if DIVIDER_RE.match(lines[k])]
    where = f" before the next {SEARCH} (line {stop + 1})" if stop < len(lines) else ""
    if closer is not None and not dividers:
        return Trouble(
            f"has {REPLACE!r} at line {closer + 1} but no {DIVIDER!r} line between the lines "
            "to find and the new lines",
            stop,
        )
    if closer is None and not dividers:
        return Trouble(f"is missing its {DIVIDER!r} and {REPLACE!r} lines{where}", stop)
    if closer is None and len(dividers) == 1:
        return Trouble(
            f"is not closed: expected {REPLACE!r} (or a second {DIVIDER!r}) after the new "
            f"lines{where}",
            stop,
        )
    exact = [k for k in dividers if lines[k].strip() == DIVIDER]
    divider = exact[0] if closer is not None and len(exact) == 1 else dividers[0]
    if closer is None:
        end = dividers[1]
    else:
        later = [k for k in dividers if k > divider]
        # a divider with nothing but blank lines after it is the block's (stray) end
        end = next(
            (k for k in later if not any(line.strip() for line in lines[k + 1 : closer])),
            closer,
        )
    return (
        _text(lines[marker + 1 : divider]),
        _text(lines[divider + 1 : end]),
        max(end, closer or 0) + 1,
    )


def _text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


# ---------------------------------------------------------------------------- file names


def name_above(lines: list[str], i: int) -> str:
    """The file name written above the SEARCH marker at index i, or '' when the nearest line
    that is not blank, a fence or a wrapper names none."""
    for j in range(i - 1, max(i - 1 - LOOK_BACK, -1), -1):
        line = lines[j].strip()
        if not line:
            continue
        fence = FENCE_RE.match(line)
        if fence:
            named = _name_in_fence_info(fence.group(1))
            if named:
                return named
            continue
        if WRAPPER_RE.match(line):
            attr = _ATTR_PATH_RE.search(line)
            if attr:
                return attr.group(1).strip()
            continue
        if SEARCH_RE.match(line) or DIVIDER_RE.match(line) or REPLACE_RE.match(line):
            return ""
        return clean_name(line)
    return ""


def _name_in_fence_info(info: str) -> str:
    """A path in a fence's info string: ```src/app.py, ```python:src/app.py, ```py title=x.py"""
    for word in re.split(r"[\s:]+", info):
        word = word.strip("\"'")
        if word.startswith("title="):
            word = word.removeprefix("title=").strip("\"'")
        if _PATHLIKE_RE.match(word) and ("/" in word or re.search(r"\.\w+$", word)):
            return word
    return ""


def clean_name(line: str) -> str:
    """The file name on a line of its own, decorated the ways models decorate it: '# a.py',
    '**a.py**', '`a.py`:', '"a.py"', 'File: a.py', '- a.py'. A line of prose gives the one
    path it quotes, or ''."""
    text = line.strip()
    if text == "...":
        return ""
    text = _LIST_RE.sub("", text.lstrip("#").strip()).replace("**", "")
    text = _LABEL_RE.sub("", text.strip()).strip()
    whole = text.rstrip(":").strip().strip("*").strip("`\"'").strip("*").rstrip(":").strip()
    if whole and not any(c.isspace() for c in whole):
        return whole
    quoted = [next(g for g in m.groups() if g) for m in _QUOTED_RE.finditer(text)]
    if len(quoted) == 1 and quoted[0].strip() == whole:  # a quoted name with spaces in it
        return whole
    words = quoted or text.split()
    paths = {w.strip().strip("*`\"'()[],;:") for w in words}
    paths = {p for p in paths if _HAS_EXT_RE.search(p) and _PATHLIKE_RE.match(p)}
    return paths.pop() if len(paths) == 1 else ""


def resolve(name: str, known_paths: Collection[str], *, new_file: bool) -> str:
    """`name` as one of `known_paths`: itself, the one known path with that base name, or the
    one close enough to it; unchanged when none fits, and always for a new file."""
    name = name.removeprefix("./")
    if new_file or not known_paths or name in known_paths:
        return name
    same_base = [p for p in known_paths if posixpath.basename(p) == name]
    if len(same_base) == 1:
        return same_base[0]
    close = difflib.get_close_matches(name, list(known_paths), n=1, cutoff=FUZZY_CUTOFF)
    return close[0] if close else name
