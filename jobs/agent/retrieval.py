"""Which files matter for a task: BM25 over paths, symbols and contents, plus a boost for paths
and symbols the task names, then packing the best files into a token budget.

Everything here is pure (text in, text out) except `litellm_token_counter`."""

from __future__ import annotations

import bisect
import functools
import math
import posixpath
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from jobs.agent.repomap import CountTokens, RepoMap, Symbol, fit_blocks

FIELD_WEIGHTS = {"content": 1.0, "path": 1.0, "symbols": 0.5}
PATH_BOOST = 1.0  # times the best BM25 score, for a file the task names
MODULE_BOOST = 0.5  # for a file the task names as a dotted module (`pkg.module.Name`)
SYMBOL_BOOST = 0.3  # for each symbol the task names, shared among the files defining it
MAX_SYMBOL_BOOST = 0.6
MIN_IDENTIFIER = 3  # shorter names (`i`, `e.g`, `py`) match too much by chance
TEST_WEIGHT = 0.5  # for test files when the task does not mention tests
STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "did", "do", "does",
    "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me",
    "my", "no", "not", "of", "on", "or", "our", "should", "so", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "to", "too", "us", "was", "we", "were",
    "what", "when", "where", "which", "while", "who", "why", "will", "with", "would", "you",
    "your", "also", "only", "just", "like", "use", "used", "using", "want", "self", "return",
    "def", "const", "let", "var", "import", "none", "null", "true", "false",
))  # fmt: skip
_WORD = re.compile(r"[A-Za-z0-9_]+")
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_CODE_SPANS = re.compile(r"```.*?```|`[^`\n]+`", re.S)
_PATHLIKE = re.compile(
    r"(?<![\w/.-])(?:\.{1,2}/)*[\w.-]*[\w-]/[\w./-]*\w|\b[\w-]+\.[A-Za-z][A-Za-z0-9]{0,4}\b"
)
_DOTTED = re.compile(r"(?<![\w/.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_CALLED = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs"})
_TEST_FILE = re.compile(r"^test_|_test\.\w+$|\.(test|spec)\.\w+$|^conftest\.py$")
_CODE_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go", ".java", ".rs")


def split_identifier(word: str) -> list[str]:
    """`HTTPDigestAuth` -> http, digest, auth; `should_strip_auth` -> should, strip, auth."""
    return [m.group(0).lower() for piece in word.split("_") for m in _PART.finditer(piece)]


def _stem(token: str) -> str:
    # Plurals only: enough for "sessions" to meet "session" without mangling identifiers.
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lowercased words with identifiers split into their parts; a compound identifier is also
    kept whole, which makes an exact mention of it a rare (high-scoring) term."""
    out: list[str] = []
    for word in _WORD.findall(text):
        out.extend(_word_tokens(word))
    return out


@functools.lru_cache(maxsize=1 << 16)  # words repeat heavily within a repository
def _word_tokens(word: str) -> tuple[str, ...]:
    parts = [p for p in split_identifier(word) if len(p) > 1 and p not in STOPWORDS]
    whole = (word.lower().strip("_"),) if len(parts) > 1 else ()
    return whole + tuple(_stem(p) for p in parts)


class BM25:
    """Okapi BM25 over named documents of tokens."""

    def __init__(self, docs: Mapping[str, Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.tf = {name: Counter(tokens) for name, tokens in docs.items()}
        self.length = {name: len(tokens) for name, tokens in docs.items()}
        self.avg_length = (sum(self.length.values()) / len(docs)) if docs else 0.0
        df: Counter[str] = Counter()
        for counts in self.tf.values():
            df.update(counts.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: Sequence[str]) -> dict[str, float]:
        """Score of every document with at least one query term."""
        out: dict[str, float] = {}
        terms = Counter(query)
        for name, counts in self.tf.items():
            norm = self.k1 * (1 - self.b + self.b * self.length[name] / (self.avg_length or 1))
            score = 0.0
            for term, qf in terms.items():
                f = counts.get(term, 0)
                if f:
                    score += qf * self.idf[term] * f * (self.k1 + 1) / (f + norm)
            if score > 0:
                out[name] = score
        return out


@dataclass(frozen=True)
class Mentions:
    """What the task text names explicitly."""

    paths: frozenset[str]  # `src/app/models.py`, `models.py`
    modules: frozenset[str]  # `app.models.User` -> app/models, app/models/User
    identifiers: frozenset[str]  # code-like words: in backticks, called, dotted, snake/camel

    @classmethod
    def of(cls, text: str) -> Mentions:
        code = " ".join(m.group(0).strip("`") for m in _CODE_SPANS.finditer(text))
        identifiers = set(_WORD.findall(code)) | set(_CALLED.findall(text))
        for word in _WORD.findall(text):
            inner_caps = any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
            if ("_" in word.strip("_") or inner_caps) and not word.isdigit():
                identifiers.add(word)
        modules: set[str] = set()
        for dotted in _DOTTED.findall(text):
            parts = dotted.split(".")
            identifiers.update(parts)
            modules.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))
        paths = {re.sub(r"^(\.\.?/)+", "", m.group(0)) for m in _PATHLIKE.finditer(text)}
        identifiers = {i for i in identifiers if len(i) >= MIN_IDENTIFIER}
        return cls(frozenset(paths), frozenset(modules), frozenset(identifiers))


def _names_path(path: str, mention: str) -> bool:
    return path == mention or path.endswith("/" + mention)


def _names_module(path: str, module: str) -> bool:
    stem, suffix = posixpath.splitext(path)
    if suffix not in _CODE_SUFFIXES:
        return False
    if posixpath.basename(stem) in ("__init__", "index", "mod"):
        stem = posixpath.dirname(stem)
    return stem == module or stem.endswith("/" + module)


def is_test_path(path: str) -> bool:
    parts = path.lower().split("/")
    name = parts[-1]
    return bool(set(parts[:-1]) & _TEST_DIRS) or bool(_TEST_FILE.search(name))


class Index:
    """BM25 indexes of one checkout (paths, symbol names, contents), built once and queried per
    task. Immutable after construction; safe to share between threads."""

    def __init__(self, repo_map: RepoMap, contents: Mapping[str, str]) -> None:
        self.paths = repo_map.paths()
        self.fields = {
            "content": BM25({f.path: tokenize(contents.get(f.path, "")) for f in repo_map.files}),
            "path": BM25(
                {f.path: tokenize(re.sub(r"[/.\-]", " ", f.path)) for f in repo_map.files}
            ),
            "symbols": BM25(
                {f.path: tokenize(" ".join(s.name for s in f.symbols)) for f in repo_map.files}
            ),
        }
        self.definers: dict[str, list[str]] = defaultdict(list)
        for entry in repo_map.files:
            for name in {s.name for s in entry.symbols}:
                self.definers[name].append(entry.path)

    def rank(self, task_text: str) -> list[tuple[str, float]]:
        """Every file with a positive score, best first (ties by path)."""
        query = tokenize(task_text)
        total: defaultdict[str, float] = defaultdict(float)
        for field, index in self.fields.items():
            for path, score in index.scores(query).items():
                total[path] += FIELD_WEIGHTS[field] * score
        if "test" not in query:
            # The task is about behaviour, so its fix lives in source files; tests that exercise
            # the same words would otherwise crowd them out.
            for path in total:
                if is_test_path(path):
                    total[path] *= TEST_WEIGHT
        top = max(total.values(), default=1.0)
        for path, extra in self._boosts(Mentions.of(task_text)).items():
            total[path] += extra * top
        return sorted(total.items(), key=lambda item: (-item[1], item[0]))

    def _boosts(self, mentions: Mentions) -> dict[str, float]:
        boost: defaultdict[str, float] = defaultdict(float)
        for name in mentions.identifiers:
            paths = self.definers.get(name, [])
            for path in paths:
                boost[path] = min(MAX_SYMBOL_BOOST, boost[path] + SYMBOL_BOOST / len(paths))
        for mention, weight, matches in (
            *((m, PATH_BOOST, _names_path) for m in mentions.paths),
            *((m, MODULE_BOOST, _names_module) for m in mentions.modules),
        ):
            named = [path for path in self.paths if matches(path, mention)]
            for path in named:
                boost[path] += weight / len(named)
        return boost


def rank(task_text: str, repo_map: RepoMap, contents: Mapping[str, str]) -> list[tuple[str, float]]:
    """Every file of the map with a positive score for the task, best first. Build an `Index`
    instead when ranking several tasks against one checkout."""
    return Index(repo_map, contents).rank(task_text)


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
