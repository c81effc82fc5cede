"""Words of code and prose for ranking: identifiers split into their parts, and Okapi BM25 over
named documents. Pure."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

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
    """Okapi BM25 over named documents, scored through postings (term -> the documents holding
    it and how often), so that a query only touches documents that share a term with it.

    Built from documents, or from a cached `Encoded` index with some documents replaced: each
    posting is decoded only when a query asks for its term. Not thread-safe while decoding."""

    def __init__(
        self,
        docs: Mapping[str, Sequence[str] | Mapping[str, int]],
        k1: float = 1.2,
        b: float = 0.75,
        *,
        base: Encoded | None = None,
        keep: Collection[str] = (),
    ) -> None:
        """`docs`: each document's tokens, or their counts (as `term_counts` gives them). With
        `base`, `docs` are only the documents that differ from it (new or changed), and `keep`
        names the documents of `base` still present and unchanged."""
        self.k1, self.b = k1, b
        fresh = {
            name: tokens if isinstance(tokens, Mapping) else Counter(tokens)
            for name, tokens in docs.items()
        }
        self.length: dict[str, int] = {}
        self._base = base
        self._base_names: list[str | None] = []
        if base is not None:
            kept = set(keep) - fresh.keys()
            self._base_names = [n if n in kept else None for n in base.names]
            for name, length in zip(self._base_names, base.lengths, strict=True):
                if name is not None:
                    self.length[name] = length
        self._fresh: defaultdict[str, dict[str, int]] = defaultdict(dict)
        for name, counts in fresh.items():
            self.length[name] = sum(counts.values())
            for term, f in counts.items():
                self._fresh[term][name] = f
        self._postings: dict[str, dict[str, int]] = {}
        self.avg_length = sum(self.length.values()) / len(self.length) if self.length else 0.0

    def posting(self, term: str) -> dict[str, int]:
        found = self._postings.get(term)
        if found is None:
            found = {}
            if self._base is not None and term in self._base.postings:
                names = self._base_names
                for pair in self._base.postings[term].split(","):
                    i, _, f = pair.partition(":")
                    name = names[int(i)]
                    if name is not None:
                        found[name] = int(f)
            found.update(self._fresh.get(term, {}))
            self._postings[term] = found
        return found

    def scores(self, query: Sequence[str]) -> dict[str, float]:
        """Score of every document with at least one query term."""
        out: defaultdict[str, float] = defaultdict(float)
        n = len(self.length)
        for term, qf in Counter(query).items():
            posting = self.posting(term)
            if not posting:
                continue
            idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
            for name, f in posting.items():
                norm = self.k1 * (1 - self.b + self.b * self.length[name] / (self.avg_length or 1))
                out[name] += qf * idf * f * (self.k1 + 1) / (f + norm)
        return {name: score for name, score in out.items() if score > 0}

    def encode(self) -> Encoded:
        """The whole index as strings, for a cache (decoding every posting once)."""
        names = list(self.length)
        number = {name: i for i, name in enumerate(names)}
        terms = set(self._fresh)
        if self._base is not None:
            terms.update(self._base.postings)
        postings = {}
        for term in sorted(terms):
            posting = self.posting(term)
            if posting:
                postings[term] = ",".join(f"{number[n]}:{f}" for n, f in posting.items())
        return Encoded(names=names, lengths=[self.length[n] for n in names], postings=postings)


class Encoded(BaseModel):
    """A BM25 index as a cache stores it: postings `"doc:count,doc:count"` by term, with doc
    numbers into `names`."""

    model_config = ConfigDict(extra="forbid")
    names: list[str]
    lengths: list[int]
    postings: dict[str, str]


def term_counts(text: str) -> dict[str, int]:
    """How often each token of `text` occurs: what BM25 keeps of a document."""
    return dict(Counter(tokenize(text)))
