"""What the repository tells contributors: AGENTS.md files (the nearest one up the tree wins for
a path), CONTRIBUTING and README, read from the trusted side without following symlinks."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path

from jobs.agent.repomap import walk
from shared import safefs
from shared.errors import InvalidInput

AGENTS = "AGENTS.md"
CONTRIBUTING = (
    "CONTRIBUTING.md", "CONTRIBUTING.rst", "CONTRIBUTING.txt", "CONTRIBUTING",
    ".github/CONTRIBUTING.md", "docs/CONTRIBUTING.md",
)  # fmt: skip
README = ("README.md", "README.rst", "README.txt", "README")
MAX_READ_BYTES = 1_000_000
DEFAULT_BUDGET_CHARS = 8000
MIN_SECTION_CHARS = 200  # a shorter excerpt of a section tells the model nothing


class RepoInstructions:
    """The instruction files of one checkout. `agents_dirs` are the directories (relative,
    "" for the root) that hold an AGENTS.md. Holds no open files; cheap to keep around."""

    def __init__(self, repo_dir: Path, agents_dirs: Iterable[str]) -> None:
        self.repo_dir = repo_dir
        self.agents_dirs = frozenset(agents_dirs)

    @classmethod
    def discover(cls, repo_dir: Path, paths: Iterable[str] | None = None) -> RepoInstructions:
        """Finds every AGENTS.md among `paths` (e.g. `RepoMap.paths()`), or by walking the tree
        when no list is given."""
        listed = walk(repo_dir) if paths is None else paths
        dirs = [posixpath.dirname(p) for p in listed if posixpath.basename(p) == AGENTS]
        return cls(repo_dir, dirs)

    def agents_file_for(self, path: str) -> str | None:
        """The AGENTS.md that governs `path`: the one in the closest directory at or above it."""
        current = posixpath.normpath(path).lstrip("/")
        current = "" if current == "." else current
        while True:
            if current in self.agents_dirs:
                return posixpath.join(current, AGENTS)
            if not current:
                return None
            current = posixpath.dirname(current)

    def agents_for(self, path: str) -> str:
        """The text of the AGENTS.md governing `path`, or "" when none does."""
        found = self.agents_file_for(path)
        return (self._read(found) or "") if found else ""

    def for_task(self, budget_chars: int = DEFAULT_BUDGET_CHARS, paths: Sequence[str] = ()) -> str:
        """Instructions for the task as a whole, within `budget_chars`: the root AGENTS.md, the
        nested AGENTS.md files governing `paths` (the files the task is likely to touch), then
        CONTRIBUTING and README. A section cut short says so."""
        sections: list[tuple[str, str]] = []  # (title, path)
        if "" in self.agents_dirs:
            sections.append((AGENTS, AGENTS))
        nested = dict.fromkeys(f for p in paths if (f := self.agents_file_for(p)) and f != AGENTS)
        for name in nested:
            folder = posixpath.dirname(name)
            sections.append((f"{name} (applies to files under {folder}/)", name))
        for group in (CONTRIBUTING, README):
            found = next((n for n in group if self._read(n) is not None), None)
            if found:
                sections.append((found, found))
        parts: list[str] = []
        remaining = budget_chars
        for title, name in sections:
            text = (self._read(name) or "").strip()
            header = f"### {title}\n"
            room = remaining - len(header)
            if not text or room <= 0:
                continue
            if len(text) > room:
                note = f"\n[... cut: {len(text)} characters in all, read {name} for the rest]"
                if room < len(note) + MIN_SECTION_CHARS:
                    continue
                text = text[: room - len(note)] + note
            parts.append(header + text)
            remaining -= len(parts[-1]) + 2  # the blank line between sections
        return "\n\n".join(parts) if parts else "(none: no AGENTS.md, CONTRIBUTING or README)"

    def _read(self, relpath: str) -> str | None:
        try:
            return safefs.read_text(self.repo_dir, relpath, max_bytes=MAX_READ_BYTES)
        except InvalidInput:
            return None  # larger than anything worth putting in a prompt
