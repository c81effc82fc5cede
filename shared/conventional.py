"""Conventional Commit messages from a task's prompt and plan. Pure: strings in, string out.

The type is inferred from words in the prompt: words naming a fix, docs, tests, a refactor or a
chore score for that type, and the first word counts three times ("Fix the docs build" is a
fix). Generic verbs ("add", "implement", "support") make it a feat only when no other type
scored, so "Add tests for the parser" is `test:`. Nothing matched: `chore:`, which makes no
claim about versions, rather than guessing feat or fix.
"""

from __future__ import annotations

import re
import textwrap

from shared.errors import InvalidInput

TYPES = ("fix", "feat", "docs", "test", "refactor", "chore")
MAX_HEADER = 72
BODY_WIDTH = 72


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_KEYWORDS: dict[str, frozenset[str]] = {
    "fix": _words(
        "fix fixes fixed fixing bug bugs buggy broken break breaks crash crashes crashing "
        "error errors incorrect wrong fail fails failing failure regression repair resolve "
        "typo typos"
    ),
    "docs": _words(
        "doc docs documentation document documented readme docstring docstrings "
        "changelog comment comments"
    ),
    "test": _words("test tests testing coverage unittest unittests pytest spec specs"),
    "refactor": _words(
        "refactor refactoring rename restructure reorganize reorganise simplify extract "
        "cleanup deduplicate dedupe tidy"
    ),
    "chore": _words(
        "bump upgrade dependency dependencies deps ci lint linting gitignore release license"
    ),
}
_FEAT = _words("add adds implement implements support introduce create new allow enable")
_FEAT_STRONG = _words("implement implements feature introduce support")
# A description starting with its own type reads twice ("fix: fix the parser").
_TYPE_VERBS: dict[str, frozenset[str]] = {
    "fix": frozenset({"fix", "fixes", "fixed", "fixing"}),
    "docs": frozenset({"document", "documents", "docs"}),
    "test": frozenset({"test", "tests"}),
    "refactor": frozenset({"refactor", "refactors", "refactored", "refactoring"}),
}
_POLITE = re.compile(
    r"^(?:(?:hey|hi|hello)\b[,!]?\s*)?(?:(?:please|pls|kindly|can you|could you|would you)\b"
    r"[,\s]*)+",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def commit_message(prompt: str, plan_summary: str, kind_hint: str = "") -> str:
    """`type: description` (≤ 72 chars, no trailing period), then a blank line and the plan
    summary wrapped at 72 columns. Without a plan summary, the body is the prompt when the
    header had to shorten it; otherwise there is no body. `kind_hint`, when given, must be one
    of TYPES and wins over inference."""
    prompt, plan_summary = prompt.strip(), plan_summary.strip()
    source = prompt or plan_summary
    if not source:
        raise InvalidInput(
            "cannot write a commit message: the prompt and the plan summary are both empty"
        )
    kind = kind_hint.strip().lower()
    if kind and kind not in TYPES:
        raise InvalidInput(f"unknown commit type '{kind_hint}' — use one of {', '.join(TYPES)}")
    kind = kind or infer_type(source)
    first, complete = _first_sentence(source)
    description = _describe(first, kind)
    short = _shorten(description, MAX_HEADER - len(kind) - 2)
    body = plan_summary or ("" if complete and short == description else source)
    return f"{kind}: {short}\n\n{wrap(body)}" if body else f"{kind}: {short}"


def infer_type(prompt: str) -> str:
    words = re.findall(r"[a-z]+", prompt.lower())
    if not words:
        return "chore"
    scores = {
        kind: sum(1 for w in words if w in keys) + (2 if words[0] in keys else 0)
        for kind, keys in _KEYWORDS.items()
    }
    feat = sum(1 for w in words if w in _FEAT_STRONG) + (2 if words[0] in _FEAT_STRONG else 0)
    best = max(scores, key=lambda k: scores[k])  # ties go to the earlier type in _KEYWORDS
    if feat > scores[best]:
        return "feat"
    if scores[best] == 0:
        return "feat" if any(w in _FEAT for w in words) else "chore"
    return best


def wrap(text: str, width: int = BODY_WIDTH) -> str:
    """Paragraphs refilled to `width`; list items kept as items with a hanging indent; lines
    that cannot break (a URL) left long rather than split."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if _LIST_ITEM.match(line) or not lines:
                lines.append(line.strip())
            else:
                lines[-1] += " " + line.strip()
        for line in lines:
            marker = _LIST_ITEM.match(line)
            indent = " " * len(marker.group(0)) if marker else ""
            out.append(
                textwrap.fill(
                    line,
                    width,
                    subsequent_indent=indent,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
        out.append("")
    return "\n".join(out).rstrip()


def _first_sentence(text: str) -> tuple[str, bool]:
    """The first sentence of the first line, list marker and heading marks removed, and whether
    it is all the text there is."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = _LIST_ITEM.sub("", lines[0]).lstrip("#").strip()
    end = _SENTENCE_END.search(line)
    sentence = line[: end.start()] if end else line
    return sentence, len(lines) == 1 and not line[len(sentence) :].strip(" .!?")


def _describe(sentence: str, kind: str) -> str:
    text = _POLITE.sub("", sentence).strip()
    words = text.split()
    if len(words) > 2 and words[0].lower() in _TYPE_VERBS.get(kind, frozenset()):
        words = words[1:]
        if len(words) > 1 and words[0].lower() in ("the", "a", "an"):
            words = words[1:]
    if words and words[0][:1].isupper() and words[0][1:].islower():
        words[0] = words[0].lower()  # "Fix" → "fix", but "README" and "FooBar" stay
    return " ".join(words).rstrip(" .:;,!") or kind


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    cut = cut.rsplit(" ", 1)[0] if " " in cut else text[:limit]  # at a word boundary if any
    return cut.rstrip(" .:;,!-")
