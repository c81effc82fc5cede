"""A fresh disk per Cloud Run execution, as the real service gives: each execution gets an
empty ERRAND_HOME of its own (so its workspace comes only from the snapshot the previous stage
saved to the bucket), holding only the local server's address file, which on this machine
stands for the network path to dispatch. When the execution ends its workspace volumes are
released and the disk is deleted."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from shared import paths


def make(base_home: str) -> Path:
    disk = Path(tempfile.mkdtemp(prefix="errand-execution-"))
    server_file = paths.server_file(Path(base_home)) if base_home else None
    if server_file is not None and server_file.exists():
        shutil.copy2(server_file, paths.server_file(disk))
    return disk


def clear(disk: Path) -> None:
    from shared.adapters.workspace_fs import release

    root = paths.workspace(disk, "x").parent
    for workspace in root.iterdir() if root.exists() else []:
        if workspace.is_dir():
            release(workspace)
    shutil.rmtree(disk, ignore_errors=True)
