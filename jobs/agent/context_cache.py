"""What retrieval knows of a checkout — each file's symbols and imports, and the BM25 index — kept
between tasks, keyed by repository and commit, outside any workspace.

Facts are derived from a file's bytes alone, so they are stored by content hash: a new commit
of a known repository reuses the facts of every file whose content did not change and computes
only the rest. Only the trusted side writes the cache, from a pristine checkout (prepare, right
after the clone, before any repository code runs); later stages read it, look each file's facts
up by the hash of what is in the workspace now, and compute what is missing in memory without
writing it back, so a tree that repository code touched never feeds the cache.

A file's term counts are not kept: the index holds them for every file of the commit, and a
file outside it (new, or moved) is tokenised again from its text, which is cheap next to
parsing it. Kept, they were a third of an entry that every warm start reads and validates."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobs.agent.bm25 import BM25, Encoded, term_counts
from jobs.agent.graph import imports_of
from jobs.agent.ranking import index_fields
from jobs.agent.repomap import (
    LANGUAGES,
    MAX_FILES,
    FileEntry,
    RepoMap,
    encode_symbols,
    extract_symbols,
    read_sources,
)
from shared.errors import InvalidInput

FORMAT_VERSION = 2  # 2: no term counts per file
KEEP_COMMITS = 4  # per repository: the newest entries are kept, older ones pruned
_COMMIT_CHARS = frozenset("0123456789abcdef")


class FileFacts(BaseModel):
    """What one file's content gives, encoded as strings: a cache of a large repository must
    load in well under a second, and strings validate without building objects."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    language: str = ""
    symbols: str = ""  # repomap.encode_symbols
    imports: tuple[str, ...] = ()


class TreeFacts(BaseModel):
    """One commit of one repository: path -> content hash, the facts of every hash, and the
    BM25 fields built from them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = FORMAT_VERSION
    commit: str
    truncated: bool = False
    files: dict[str, str]
    facts: dict[str, FileFacts]
    index: dict[str, Encoded] = Field(default_factory=dict)


@dataclass(frozen=True)
class Checkout:
    """A checkout read once: texts by path, the facts of each file, the cache entry it was read
    against, and how many files' facts were computed here rather than found there (0 on a warm
    start)."""

    commit: str
    texts: dict[str, str]
    hashes: dict[str, str]
    facts: dict[str, FileFacts]
    truncated: bool
    computed: int
    cached: TreeFacts | None

    def repo_map(self) -> RepoMap:
        files = [
            FileEntry(p, self.facts[h].language, encoded=self.facts[h].symbols)
            for p, h in self.hashes.items()
        ]
        return RepoMap(commit=self.commit, files=files, truncated=self.truncated)

    def fields(self, repo_map: RepoMap) -> dict[str, BM25]:
        """The BM25 fields: from the cached index for the files whose content it was built
        from, tokenised here for the others."""
        base = self.cached.index if self.cached else None
        known = self.cached.files if self.cached else {}
        unchanged = {p for p, h in self.hashes.items() if known.get(p) == h}

        def terms(path: str) -> dict[str, int]:
            return term_counts(self.texts[path])

        return index_fields(repo_map, terms, base=base or None, unchanged=unchanged)

    def imports(self) -> dict[str, tuple[str, ...]]:
        return {p: self.facts[h].imports for p, h in self.hashes.items()}


def facts_of(language: str, text: str) -> FileFacts:
    symbols = extract_symbols(text, language) if language else ()
    return FileFacts(
        language=language,
        symbols=encode_symbols(symbols),
        imports=imports_of(text, language),
    )


class ContextCache:
    """The cache root (`shared.paths.context_cache`); one folder per repository, one file per
    commit. Safe for several processes: files are replaced atomically, and a file left broken
    by a crash reads as missing."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, repo: str) -> Path:
        return self.root / hashlib.sha256(repo.encode()).hexdigest()[:32]

    def _file(self, repo: str, commit: str) -> Path:
        if not commit or len(commit) > 64 or not set(commit) <= _COMMIT_CHARS:
            raise InvalidInput(f"commit {commit!r} is not a hexadecimal git object id")
        return self._folder(repo) / f"v{FORMAT_VERSION}-{commit}.json"

    def get(self, repo: str, commit: str) -> TreeFacts | None:
        """The facts of `commit`, or else of the newest other commit of `repo` seen (most files
        are the same from one commit to the next); None for a repository never seen."""
        exact = self._file(repo, commit)
        for candidate in (exact, *self._newest(repo)):
            try:
                return TreeFacts.model_validate_json(candidate.read_bytes())
            except (OSError, ValidationError):
                continue
        return None

    def _newest(self, repo: str) -> list[Path]:
        try:
            entries = list(self._folder(repo).glob(f"v{FORMAT_VERSION}-*.json"))
        except OSError:
            return []
        return sorted(entries, key=_mtime, reverse=True)

    def refresh(self, repo: str, commit: str, repo_dir: Path) -> Checkout:
        """Reads the pristine checkout `repo_dir` of `repo` at `commit`, computing the facts of
        files the cache does not know, and stores them. Trusted side only; never call this on a
        tree repository code has run in."""
        checkout = load(repo_dir, commit, self.get(repo, commit))
        target = self._file(repo, commit)
        if checkout.computed or not target.exists():
            fields = checkout.fields(checkout.repo_map())
            tree = TreeFacts(
                commit=commit,
                truncated=checkout.truncated,
                files=checkout.hashes,
                facts={h: checkout.facts[h] for h in set(checkout.hashes.values())},
                index={name: field.encode() for name, field in fields.items()},
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(tree.model_dump_json())
            os.replace(tmp, target)
        for old in self._newest(repo)[KEEP_COMMITS:]:
            old.unlink(missing_ok=True)
        return checkout


def load(repo_dir: Path, commit: str, cached: TreeFacts | None) -> Checkout:
    """Every candidate file of `repo_dir` (see `repomap.walk`), its facts from `cached` when its
    content hash is known there, computed otherwise."""
    known = cached.facts if cached else {}
    texts: dict[str, str] = {}
    hashes: dict[str, str] = {}
    facts: dict[str, FileFacts] = {}
    computed = 0
    truncated = False
    for path, text in read_sources(repo_dir):
        if len(texts) >= MAX_FILES:
            truncated = True
            break
        # The language is part of the key: the same bytes under another suffix parse otherwise.
        language = LANGUAGES.get(os.path.splitext(path)[1].lower(), "")
        digest = hashlib.blake2b(
            f"{language}\0{text}".encode("utf-8", "surrogatepass"), digest_size=16
        ).hexdigest()
        if digest not in facts:
            found = known.get(digest)
            if found is None:
                found = facts_of(language, text)
                computed += 1
            facts[digest] = found
        texts[path], hashes[path] = text, digest
    return Checkout(commit, texts, hashes, facts, truncated, computed, cached)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
