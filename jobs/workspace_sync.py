"""Workspace snapshots between stages, for job runners whose executions start on an empty disk
(Cloud Run Jobs): the stage that hands the task on saves its workspace to Blobs, the next
execution that finds no workspace restores it.

The save happens before the task's status moves on (StageContext.move), so no later stage can
start from an older snapshot. Saving reads a tree that untrusted code wrote, on the trusted
side, after every sandboxed command has ended: symlinks are stored as links and never
followed, sockets are skipped. Restoring refuses members that would land outside the workspace
(absolute paths, `..`, writing through a symlink, hard links out) and device files, and drops
setuid/setgid bits (tarfile's `tar` filter, plus devices); ownership and modes are kept so the
sandbox's user owns its files again. Symbolic links pointing anywhere are kept as links (a
venv's `bin/python` points at the image's interpreter) and never written through; hard links
must stay inside (one to a host file would hand the sandbox that file).

Snapshots are gzip level 1 tarballs held in memory while they travel (the Blobs port takes
bytes), so a workspace's compressed size must fit in the job's memory."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from shared.domain import Stage, Status
from shared.errors import NotFound, StageFailed
from shared.wiring import Deps

# the statuses whose stage works in the workspace: moving to one saves it first
NEEDS_WORKSPACE = frozenset(
    {Status.PLANNING, Status.PLAN_REVIEW, Status.EXECUTING, Status.VERIFYING, Status.DIFF_REVIEW}
)


# the stages that work in it (publish applies the stored diff to a pristine clone)
RESTORED_FOR = frozenset({Stage.PLAN, Stage.EXECUTE, Stage.VERIFY})


def snapshot_key(task_id: str) -> str:
    return f"tasks/{task_id}/workspace.tar.gz"


def enabled(deps: Deps) -> bool:
    return deps.settings.jobs == "cloudrun"


def save(deps: Deps, task_id: str, workspace: Path) -> None:
    if not workspace.is_dir():
        return
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        tar.add(workspace, arcname=".", recursive=True)
    deps.blobs.put(snapshot_key(task_id), buffer.getvalue(), "application/gzip")


def restore(deps: Deps, task_id: str, workspace: Path) -> bool:
    """Restores the task's last snapshot when this machine has no workspace for it; False when
    there is a workspace already or no snapshot (prepare makes the first one)."""
    if workspace.exists():
        return False
    try:
        data = deps.blobs.get(snapshot_key(task_id))
    except NotFound:
        return False
    workspace.parent.mkdir(parents=True, exist_ok=True)
    deps.volumes.provision(workspace)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(workspace, filter=_member)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise StageFailed(
            "workspace_restore_failed",
            f"the workspace snapshot of {task_id} could not be restored ({exc}); retry the task",
        ) from exc
    return True


def _member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    if member.ischr() or member.isblk():
        raise tarfile.SpecialFileError(member)
    if member.islnk():  # the `tar` filter lets a hard link reach any file of this machine
        root = os.path.realpath(dest)
        target = os.path.realpath(os.path.join(root, member.linkname))
        if os.path.isabs(member.linkname) or os.path.commonpath([root, target]) != root:
            raise tarfile.LinkOutsideDestinationError(member, target)
    checked = tarfile.tar_filter(member, dest)
    if member.isdir() or member.isreg():
        # tar_filter drops group/other write bits; the sandbox's files keep their own modes
        checked = checked.replace(mode=member.mode & 0o777, deep=False)
    return checked
