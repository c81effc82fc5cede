"""Packing the files retrieval ranked (see `ranking`) into a token budget: whole files, or the
symbols and line windows of large ones that share the most words with the task.

Everything here is pure (text in, text out) except `litellm_token_counter`."""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from jobs.agent.bm25 import BM25, split_identifier, tokenize
from jobs.agent.mentions import Mentions, is_test_path
from jobs.agent.ranking import Index, rank
from jobs.agent.repomap import CountTokens, RepoMap, Symbol, fit_blocks

__all__ = [
    "BM25",
    "Index",
    "Mentions",
    "is_test_path",
    "litellm_token_counter",
    "pack",
    "rank",
    "split_identifier",
    "tokenize",
]


@dataclass(frozen=True)
class _Chunk:
    start: int  # 1-based, inclusive
    end: int
    score: float


def _spans(symbols: Sequence[Symbol], n_lines: int) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, name) spans: a symbol with others inside it contributes its
    header (the lines before the first nested one); long spans are cut into windows."""
    starts = sorted(s.line for s in symbols)
    spans = [(1, n_lines, "")] if not symbols else []
    for s in symbols:
        i = bisect.bisect_right(starts, s.line)
        nested = i < len(starts) and starts[i] <= s.end_line
        spans.append(
            (s.line, min(starts[i] - 1, s.line + HEADER_LINES) if nested else s.end_line, s.name)
        )
    return [
        (first, min(first + WINDOW_LINES - 1, end), name)
        for start, end, name in spans
        for first in range(start, end + 1, WINDOW_LINES)
    ]


def _chunks(
    text: str, symbols: Sequence[Symbol], query: set[str], named: frozenset[str]
) -> list[_Chunk]:
    """Candidate excerpts of a large file, scored by the task words they contain, a word rare in
    the file counting more; a symbol the task names scores at least as high as the best one."""
    lines = text.split("\n")
    spans = _spans(symbols, len(lines))
    words = [set(tokenize("\n".join(lines[start - 1 : end]))) & query for start, end, _ in spans]
    df = Counter(w for found in words for w in found)
    scores = [sum(math.log(1 + len(spans) / df[w]) for w in found) for found in words]
    best = max(scores, default=0.0)
    return [
        _Chunk(start, end, score + (best if name in named else 0.0))
        for (start, end, name), score in zip(spans, scores, strict=True)
    ]


WINDOW_LINES = 80  # longest excerpt; longer symbols are cut into windows this long
HEADER_LINES = 30  # most lines shown of a class before its first member
RELEVANT_SHARE = 0.5  # excerpts scoring below this share of a file's best one are left out
MAX_FILES = 12
FILE_SHARE = 0.5  # at most this part of the budget for one whole file
EXCERPT_SHARE = 0.25  # and this much for the excerpts of one large file
MAX_CHARS_PER_TOKEN = 10  # generous: code averages about 4 characters per token


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    return "`" * (longest + 1)


def _render_excerpts(
    path: str, text: str, chunks: Sequence[_Chunk], allowance: int, count_tokens: CountTokens
) -> str | None:
    lines = text.split("\n")
    fence = _fence(text)
    header = f"### {path} (excerpts; {len(lines)} lines in all)"
    best = max((c.score for c in chunks), default=0.0)
    picked: list[_Chunk] = []
    used = count_tokens(header)
    for chunk in sorted(chunks, key=lambda c: (-c.score, c.start)):
        if chunk.score <= 0 or chunk.score < RELEVANT_SHARE * best:
            break
        cost = count_tokens(_excerpt(lines, chunk, fence)) + 1
        if used + cost <= allowance:
            picked.append(chunk)
            used += cost
    if not picked:
        return None
    picked.sort(key=lambda c: c.start)
    return "\n".join([header, *(_excerpt(lines, c, fence) for c in picked)])


def _excerpt(lines: Sequence[str], chunk: _Chunk, fence: str) -> str:
    body = "\n".join(lines[chunk.start - 1 : chunk.end]).rstrip()
    return f"lines {chunk.start}-{chunk.end}:\n{fence}\n{body}\n{fence}"


def pack(
    ranked: Sequence[tuple[str, float]],
    budget_tokens: int,
    count_tokens: CountTokens,
    *,
    contents: Mapping[str, str],
    repo_map: RepoMap | None = None,
    task_text: str = "",
    max_files: int = MAX_FILES,
) -> str:
    """The best files as prompt text within `budget_tokens`: whole when a file takes at most
    FILE_SHARE of the budget, otherwise (within EXCERPT_SHARE) its symbols or line windows that
    share the most words with the task. A file that does not fit makes room for later ones."""
    query = set(tokenize(task_text))
    named = Mentions.of(task_text).identifiers
    blocks: list[str] = []
    used = 0
    for path, _score in ranked:
        if len(blocks) >= max_files or used >= budget_tokens:
            break
        text = contents.get(path)
        if not text or not text.strip():
            continue
        remaining = budget_tokens - used
        allowance = min(remaining, int(budget_tokens * FILE_SHARE))
        if len(text) <= allowance * MAX_CHARS_PER_TOKEN:  # else it cannot fit: skip counting
            fence = _fence(text)
            whole = f"### {path} (whole file)\n{fence}\n{text.rstrip()}\n{fence}"
            cost = count_tokens(whole) + 1
            if cost <= allowance:
                blocks.append(whole)
                used += cost
                continue
        entry = repo_map.entry(path) if repo_map else None
        chunks = _chunks(text, entry.symbols if entry else (), query, named)
        allowance = min(remaining, int(budget_tokens * EXCERPT_SHARE))
        excerpts = _render_excerpts(path, text, chunks, allowance - 1, count_tokens)
        if excerpts is not None:
            blocks.append(excerpts)
            used += count_tokens(excerpts) + 1
    return fit_blocks(blocks, budget_tokens, count_tokens)


def litellm_token_counter(model: str) -> Callable[[str], int]:
    """Counts tokens with the tokenizer litellm uses for `model`."""
    from shared.adapters.litellm_model import import_litellm

    litellm = import_litellm()

    def count(text: str) -> int:
        return int(litellm.token_counter(model=model, text=text))

    return count
