"""The repository's file list, from the trusted side, without following symlinks (test
detection needs every path; the model's view of the repository is built by context_builder)."""

from __future__ import annotations

import os
from pathlib import Path

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".tox", "dist"}
MAX_FILES = 400


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
