"""Words of code and prose for ranking: identifiers split into their parts, and Okapi BM25 over
named documents. Pure."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

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
    """Okapi BM25 over named documents of tokens."""

    def __init__(
        self,
        docs: Mapping[str, Sequence[str] | Mapping[str, int]],
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        """`docs`: each document's tokens, or their counts (as `term_counts` gives them)."""
        self.k1, self.b = k1, b
        self.tf = {
            name: tokens if isinstance(tokens, Mapping) else Counter(tokens)
            for name, tokens in docs.items()
        }
        self.length = {name: sum(counts.values()) for name, counts in self.tf.items()}
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


def term_counts(text: str) -> dict[str, int]:
    """How often each token of `text` occurs: what BM25 keeps of a document."""
    return dict(Counter(tokenize(text)))
