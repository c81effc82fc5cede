"""Cutting long tool output down for the model, saying exactly what was cut.

Models read the start of an output (the command, the first error) and its end (the summary, the
final traceback); the middle is what they can most easily do without. Pure: no IO."""

from __future__ import annotations


def head_tail(text: str, max_chars: int, max_lines: int) -> str:
    """`text` unchanged when it has at most `max_chars` characters and `max_lines` lines;
    otherwise its first and last lines (half of each budget for either end) with one
    `[... N lines (M characters) cut ...]` line between them. The note is not counted in the
    budgets. A line longer than its end's half of `max_chars` is cut inside the line."""
    if max_chars < 2 or max_lines < 2:
        raise ValueError("head_tail needs max_chars >= 2 and max_lines >= 2")
    lines = _lines(text)
    if len(text) <= max_chars and len(lines) <= max_lines:
        return text
    head_chars, head_lines = max_chars // 2, max_lines // 2
    tail_chars, tail_lines = max_chars - head_chars, max_lines - head_lines
    head = _fit(lines[:head_lines], head_chars)
    tail = _fit(lines[len(head) :][::-1][:tail_lines], tail_chars)[::-1]
    # Over budget, so at least one line lies between head and tail.
    middle = lines[len(head) : len(lines) - len(tail)]
    head_text, tail_text = "".join(head), "".join(tail)
    partial = set()
    if not head:  # the first line alone is over its budget: show its beginning
        head_text = middle[0][:head_chars]
        partial.add(0)
    if not tail:  # likewise the last line: show its end
        tail_text = middle[-1][-tail_chars:]
        partial.add(len(middle) - 1)
    whole = len(middle) - len(partial)
    cut_chars = len(text) - len(head_text) - len(tail_text)
    parts = [f"{whole} line{_s(whole)}"] if whole or not partial else []
    if partial:
        parts.append(f"part of {len(partial)} line{_s(len(partial))}")
    note = (
        f"[... {' and '.join(parts)} ({cut_chars} characters) cut from the middle of this "
        "output ...]"
    )
    if head_text and not head_text.endswith("\n"):
        head_text += "\n"
    return f"{head_text}{note}\n{tail_text}"


def _lines(text: str) -> list[str]:
    """Lines with their endings, split at "\\n" only (str.splitlines also splits at form feeds
    and Unicode separators, which would miscount)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _fit(lines: list[str], budget: int) -> list[str]:
    """The leading lines whose total length stays within budget."""
    kept, used = [], 0
    for line in lines:
        if used + len(line) > budget:
            break
        kept.append(line)
        used += len(line)
    return kept


def _s(n: int) -> str:
    return "" if n == 1 else "s"
