"""What the model is told about the repository: instructions and a file list, from the trusted
side, reading the clone without following symlinks."""

from __future__ import annotations

import os
from pathlib import Path

from shared import safefs

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".tox", "dist"}
INSTRUCTION_FILES = ("AGENTS.md", "CONTRIBUTING.md", "README.md", "README.rst", "README")
MAX_FILES = 400
MAX_INSTRUCTIONS_CHARS = 6000


def list_files(repo: Path, limit: int = MAX_FILES) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(repo, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        rel = os.path.relpath(dirpath, repo)
        for name in sorted(filenames):
            out.append(name if rel == "." else f"{rel}/{name}")
            if len(out) >= limit:
                return out
    return out


def instructions(repo: Path) -> str:
    parts: list[str] = []
    budget = MAX_INSTRUCTIONS_CHARS
    for name in INSTRUCTION_FILES:
        text = safefs.read_text(repo, name, max_bytes=2_000_000)
        if not text or budget <= 0:
            continue
        chunk = text[:budget]
        parts.append(f"### {name}\n{chunk}")
        budget -= len(chunk)
    return "\n\n".join(parts) or "(none)"


def format_files(files: list[str]) -> str:
    suffix = f"\n... (first {MAX_FILES} files shown)" if len(files) >= MAX_FILES else ""
    return "\n".join(files) + suffix
