"""File tools for the agent: view, edit (SEARCH/REPLACE), create and apply_patch.

The new content is computed on the trusted side by pure functions (edits, udiff); reading and
writing go through the sandbox (safe_write), so no symlink in the untrusted workspace can make
the trusted side read or write outside it. A handler returns the text the model sees; failures
the model can correct come back as text starting with "error:", while malformed arguments raise
ValueError for the loop to report."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pydantic import JsonValue

from jobs.agent import udiff
from jobs.agent.edit_parse import Parsed, parse_answer, resolve
from jobs.agent.edits import apply_block, apply_edit, numbered, split_lines
from jobs.agent.output import head_tail
from jobs.agent.safe_write import SANDBOX_REPO, FileState, WorkspaceFiles
from shared.errors import InvalidInput
from shared.ports import CommandResult, ToolSpec

Handler = Callable[[dict[str, JsonValue]], str]
_DIFF_RE = re.compile(r"^--- .*\n\+\+\+ .*\n@@", re.MULTILINE)
_PATH = {"type": "string", "description": "path relative to /workspace/repo"}

VIEW = ToolSpec(
    name="view",
    description=(
        "Show a file with numbered lines (or list a directory). Long files are shown a part at "
        "a time: pass start_line and end_line for other parts."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": _PATH,
            "start_line": {"type": "integer", "description": "first line to show (from 1)"},
            "end_line": {"type": "integer", "description": "last line to show (inclusive)"},
        },
        "required": ["path"],
    },
)
EDIT = ToolSpec(
    name="edit",
    description=(
        "Replace one piece of a file. `search` must match exactly one place: copy whole lines "
        "from the file (without view's line numbers) and include enough of them to be unique. "
        "If only indentation or trailing spaces differ it still matches, and `replace` is "
        "re-indented to fit. On failure the closest lines of the file are shown."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": _PATH,
            "search": {"type": "string", "description": "the exact text to find"},
            "replace": {"type": "string", "description": "the text to put in its place"},
        },
        "required": ["path", "search", "replace"],
    },
)
CREATE = ToolSpec(
    name="create",
    description=(
        "Create a file with the given content (missing directories are created). Fails if the "
        "file exists, unless overwrite is true."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": _PATH,
            "content": {"type": "string"},
            "overwrite": {"type": "boolean", "description": "replace an existing file"},
        },
        "required": ["path", "content"],
    },
)
APPLY_PATCH = ToolSpec(
    name="apply_patch",
    description=(
        "Apply a unified diff to one or more files: '--- a/PATH', '+++ b/PATH', then '@@' "
        "hunks of ' ' context, '-' removed and '+' added lines. '--- /dev/null' creates a file, "
        "'+++ /dev/null' deletes one. Hunks are placed by their context lines, so line numbers "
        "may be approximate."
    ),
    parameters={
        "type": "object",
        "properties": {"patch": {"type": "string", "description": "the unified diff"}},
        "required": ["patch"],
    },
)


def repo_path(raw: JsonValue, *, allow_root: bool = False) -> str:
    """A path the model gave, relative to the repository and normalised. Malformed: ValueError;
    leaving the repository: InvalidInput."""
    if not isinstance(raw, str) or not raw.strip() or "\0" in raw:
        raise ValueError("'path' must be a non-empty string")
    path = raw.strip()
    if path.startswith("/"):
        if path != SANDBOX_REPO and not path.startswith(SANDBOX_REPO + "/"):
            raise InvalidInput(f"{path} is outside the repository; use a path inside it")
        path = path[len(SANDBOX_REPO) :]
    norm = posixpath.normpath("./" + path.lstrip("/"))
    if norm == ".." or norm.startswith("../"):
        raise InvalidInput(f"{raw} is outside the repository; use a path inside it")
    if norm == "." and not allow_root:
        raise InvalidInput("that is the repository itself; name a file in it")
    return "" if norm == "." else norm


class FileTools:
    """`run` runs a command in the sandbox of the task whose workspace is `workspace` (the host
    directory the sandbox sees as /workspace). `specs` and `handlers` go to the AgentLoop.

    view shows at most `view_lines` lines and `view_chars` characters per call, each line cut
    at `line_chars`. Files are read `chunk_bytes` at a time (see WorkspaceFiles)."""

    def __init__(
        self,
        run: Callable[[str], CommandResult],
        workspace: Path,
        *,
        view_lines: int = 400,
        view_chars: int = 24_000,
        line_chars: int = 500,
        chunk_bytes: int = 96_000,
    ) -> None:
        self.files = WorkspaceFiles(run, workspace, chunk_bytes=chunk_bytes)
        self._run = run
        self._view_lines, self._view_chars, self._line_chars = view_lines, view_chars, line_chars

    @property
    def specs(self) -> list[ToolSpec]:
        return [VIEW, EDIT, CREATE, APPLY_PATCH]

    @property
    def handlers(self) -> dict[str, Handler]:
        return {
            "view": _guard(self.view),
            "edit": _guard(self.edit),
            "create": _guard(self.create),
            "apply_patch": _guard(self.apply_patch),
        }

    def view(self, args: dict[str, JsonValue]) -> str:
        path = repo_path(args["path"], allow_root=True)
        start = _int(args.get("start_line"), "start_line") or 1
        end = _int(args.get("end_line"), "end_line")
        state = self.files.read(path)
        if state.kind == "dir":
            more = state.total - len(state.entries)
            tail = f"\n[... {more} more entries; list them with bash]" if more else ""
            listing = "\n".join(state.entries)
            return f"{path or '.'}/ ({state.total} entries)\n{listing}{tail}"
        lines = split_lines(_text(state))
        if not lines:
            return f"{path} is empty"
        if start > len(lines):
            return f"error: start_line {start} is past the end of {path} ({len(lines)} lines)"
        last = min(end or len(lines), len(lines), start + self._view_lines - 1)
        if last < start:
            return f"error: end_line {end} is before start_line {start}"
        shown: list[str] = []
        used = 0
        for line in lines[start - 1 : last]:
            text = body(line, self._line_chars)
            if shown and used + len(text) > self._view_chars:
                break
            shown.append(text)
            used += len(text)
        last = start + len(shown) - 1
        out = f"{path} (lines {start}-{last} of {len(lines)})\n{numbered(shown, start)}"
        if last < len(lines):
            out += f"[{len(lines) - last} more lines: view with start_line={last + 1}]\n"
        return out

    def edit(self, args: dict[str, JsonValue]) -> str:
        path = repo_path(args["path"])
        search, replace = _str(args, "search"), _str(args, "replace")
        old = _text(self.files.read(path))
        applied = apply_edit(old, search, replace)
        if applied.content == old:
            return "error: the edit changes nothing: `replace` is the same as the matched text"
        self.files.write({path: applied.content.encode()})
        how = " (whitespace differed: the replacement was re-indented to fit the file)"
        return f"edited {path}{how if applied.tolerant else ''}\n" + self._snippet(
            applied.content, applied.start_line, applied.end_line
        )

    def create(self, args: dict[str, JsonValue]) -> str:
        path = repo_path(args["path"])
        content = _str(args, "content")
        overwrite = args.get("overwrite", False)
        if overwrite not in (True, False, "true", "false"):
            raise ValueError("'overwrite' must be true or false")
        new = () if overwrite in (True, "true") else (path,)
        try:
            self.files.write({path: content.encode()}, new=new)
        except InvalidInput as exc:
            if new and "already exists" in exc.message:
                return (
                    f"error: {path} already exists: change it with edit or apply_patch, or "
                    "pass overwrite=true to replace all of it"
                )
            raise
        count = len(split_lines(content))
        return f"wrote {path} ({count} line{'' if count == 1 else 's'})"

    def apply_patch(self, args: dict[str, JsonValue]) -> str:
        patches = udiff.parse_patch(_str(args, "patch"))
        return self._patch(patches)

    def apply_text(self, text: str) -> str | None:
        """Applies the SEARCH/REPLACE blocks or the unified diff in a model's plain answer (one
        that called no tool). None when it holds neither; otherwise what happened, as a tool
        would say it. Blocks apply one by one: a malformed or failing block is reported and the
        good ones are kept; a diff applies all or nothing."""
        try:
            parsed = parse_answer(text)
            if parsed.blocks or parsed.problems:
                return self._blocks(parsed)
            if _DIFF_RE.search(text.replace("\r\n", "\n")):
                return self._patch(udiff.parse_patch(text))
        except InvalidInput as exc:
            return f"error: {exc.message}"
        except ValueError as exc:
            return f"error: {exc}"
        return None

    def _blocks(self, parsed: Parsed) -> str:
        originals: dict[str, str | None] = {}
        contents: dict[str, str] = {}
        failed = {p.number: p.message for p in parsed.problems}
        listing: list[str] | None = None
        for block in parsed.blocks:
            try:
                path = repo_path(block.path)
                state = None if path in contents else self.files.read(path)
                if state is not None and state.kind == "missing" and block.search.strip():
                    # an edit of a file that is not there: the model may have given its base
                    # name or misspelt it, which Aider resolves against the repository's files
                    listing = self._listing() if listing is None else listing
                    known = repo_path(resolve(path, listing, new_file=False))
                    if known != path:
                        block, path = replace(block, path=known), known
                        state = None if path in contents else self.files.read(path)
                if state is not None:
                    originals[path] = _text_or_none(state)
                    contents[path] = originals[path] or ""
                contents[path] = apply_block(contents[path], block).content
            except InvalidInput as exc:
                failed[block.number] = f"block {block.number} ({block.path}): {exc.message}"
            except ValueError as exc:
                failed[block.number] = f"block {block.number} ({block.path}): {exc}"
        changes = {p: c.encode() for p, c in contents.items() if c != originals[p]}
        if changes:
            self.files.write(changes, new=[p for p in changes if originals[p] is None])
        report = [f"{'created' if originals[p] is None else 'edited'} {p}" for p in changes]
        report += [f"error: {failed[n]}" for n in sorted(failed)]
        if failed:
            report.append(
                f"The other {len(parsed.blocks) - len(failed) + len(parsed.problems)} block(s) "
                "were applied: do not send them again, send only corrected versions of the "
                "failed ones."
                if changes
                else "Nothing was changed."
            )
        elif not changes:
            return "error: the SEARCH/REPLACE blocks change nothing"
        return "\n".join(report)

    def _listing(self) -> list[str]:
        """The repository's files (tracked or not, ignored ones left out where git can tell)."""
        result = self._run(
            "{ git ls-files -co --exclude-standard 2>/dev/null || "
            "find . -type f ! -path './.git/*' | sed 's|^\\./||'; } | head -n 100000"
        )
        return [line for line in result.output.splitlines() if line.strip()]

    def _patch(self, patches: list[udiff.FilePatch]) -> str:
        for patch in patches:
            patch.old_path = repo_path(patch.old_path) if patch.old_path is not None else None
            patch.new_path = repo_path(patch.new_path) if patch.new_path is not None else None
        paths = dict.fromkeys(p for patch in patches for p in (patch.old_path, patch.new_path))
        before = {p: _text_or_none(self.files.read(p)) for p in paths if p is not None}
        result = udiff.apply_patches(before, patches)
        changes = {p: (c.encode() if c is not None else None) for p, c in result.files.items()}
        changes = {p: c for p, c in changes.items() if result.files[p] != before.get(p)}
        if not changes:
            return "error: the patch changes nothing (was it applied already?)"
        self.files.write(changes, new=[p for p in changes if before.get(p) is None])
        report = []
        for path, content in result.files.items():
            if path not in changes:
                continue
            verb = (
                "deleted" if content is None else "created" if before[path] is None else "patched"
            )
            report.append(f"{verb} {path}")
        return "\n".join(report + result.notes)

    def _snippet(self, content: str, first: int, last: int) -> str:
        lines = split_lines(content)
        start = max(first - 3, 1)
        window = [body(line, self._line_chars) for line in lines[start - 1 : last + 3]]
        return head_tail(numbered(window, start), self._view_chars // 4, 80)


def body(line: str, limit: int) -> str:
    text = line.removesuffix("\n").removesuffix("\r")
    return text if len(text) <= limit else f"{text[:limit]} [... {len(text) - limit} more chars]"


def _text(state: FileState) -> str:
    text = _text_or_none(state)
    if text is None:
        raise InvalidInput(f"{state.path} does not exist (create makes new files)")
    return text


def _text_or_none(state: FileState) -> str | None:
    if state.kind == "missing":
        return None
    if state.kind != "file":
        what = {
            "dir": "is a directory",
            "outside": "is a symlink that leads outside the repository",
            "other": "is not a regular file",
        }.get(state.kind, f"cannot be read ({state.message})")
        raise InvalidInput(f"{state.path} {what}")
    try:
        text = state.data.decode("utf-8")
    except UnicodeDecodeError:
        text = "\0"
    if "\0" in text:
        raise InvalidInput(
            f"{state.path} is binary (or not UTF-8), {len(state.data)} bytes; use bash for it"
        )
    return text


def _str(args: dict[str, JsonValue], key: str) -> str:
    value = args[key]
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string")
    return value


def _int(value: JsonValue, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError(f"{key!r} must be a positive integer")
    return int(value)


def _guard(method: Handler) -> Handler:
    def handler(args: dict[str, JsonValue]) -> str:
        try:
            return method(args)
        except InvalidInput as exc:  # edit, patch and path errors the model can correct
            return f"error: {exc.message}"

    return handler
