"""A map of a repository: its text files and their top-level symbols (classes, functions,
methods, with line spans), from tree-sitter grammars (kept between tasks by `context_cache`).

Files are read from the trusted side with `shared.safefs` (symlinks are never followed);
binaries, files over MAX_FILE_BYTES and vendored or generated directories are left out."""

from __future__ import annotations

import functools
import importlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from tree_sitter import Language, Node, Parser

from shared import safefs
from shared.errors import InvalidInput

MAX_FILE_BYTES = 1_000_000
MAX_FILES = 20_000
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "dist", "build", "vendor",
     "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".eggs", "target"}
)  # fmt: skip
# Binaries by name, plus text that only adds noise to retrieval (lockfiles, minified code).
SKIP_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".gif", ".ico", ".webp", ".bmp", ".pdf", ".zip", ".gz", ".tgz",
    ".bz2", ".xz", ".7z", ".jar", ".war", ".class", ".so", ".dylib", ".dll", ".exe", ".o", ".a",
    ".pyc", ".pyo", ".whl", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp3", ".mp4", ".wav",
    ".ogg", ".sqlite", ".db", ".bin", ".lock", ".min.js", ".min.css", ".map",
)  # fmt: skip
SKIP_NAMES = frozenset({"package-lock.json", "pnpm-lock.yaml", "npm-shrinkwrap.json"})

# extension -> language name; the grammar is loaded on first use
LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".jsx": "javascript",
    ".mjs": "javascript", ".cjs": "javascript", ".ts": "typescript", ".mts": "typescript",
    ".cts": "typescript", ".tsx": "tsx", ".go": "go", ".java": "java", ".rs": "rust",
}  # fmt: skip

CountTokens = Callable[[str], int]


class Symbol(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    kind: str  # class, function, method, interface, struct, enum, trait, impl, type, module
    line: int  # 1-based, inclusive
    end_line: int
    parent: str = ""


class FileEntry:
    """A file of the map. Its symbols may be given encoded (`encode_symbols`) and are decoded
    on first use: a warm map of a large repository must not build tens of thousands of objects
    for the few files a prompt shows."""

    __slots__ = ("_decoded", "_encoded", "language", "path")

    def __init__(
        self,
        path: str,
        language: str = "",
        symbols: Sequence[Symbol] = (),
        *,
        encoded: str | None = None,
    ) -> None:
        self.path, self.language = path, language
        self._decoded: tuple[Symbol, ...] | None = None if encoded is not None else tuple(symbols)
        self._encoded = encoded or ""

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        if self._decoded is None:
            self._decoded = decode_symbols(self._encoded)
        return self._decoded

    def names(self) -> list[str]:
        """The symbols' names, without decoding the rest."""
        if self._decoded is not None:
            return [s.name for s in self._decoded]
        return [row.split("\t", 2)[1] for row in self._encoded.split("\n") if row]

    def may_define(self, name: str) -> bool:
        """False only when no symbol here is called `name`: a cheap test on the encoded rows (a
        name sits between tabs) that spares decoding most files."""
        if self._decoded is not None:
            return True
        return f"\t{name}\t" in self._encoded

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FileEntry):
            return NotImplemented
        return (self.path, self.language, self.symbols) == (
            other.path,
            other.language,
            other.symbols,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable cache inside: not hashable

    def __repr__(self) -> str:
        return f"FileEntry({self.path!r}, {self.language!r}, {len(self.symbols)} symbols)"


def encode_symbols(symbols: Sequence[Symbol]) -> str:
    """One row per symbol: kind, name, line, end line, parent, tab-separated."""
    return "\n".join(
        "\t".join((s.kind, _flat(s.name), str(s.line), str(s.end_line), _flat(s.parent)))
        for s in symbols
    )


def decode_symbols(encoded: str) -> tuple[Symbol, ...]:
    out = []
    for row in encoded.split("\n"):
        if row:
            kind, name, line, end, parent = row.split("\t")
            out.append(
                Symbol(name=name, kind=kind, line=int(line), end_line=int(end), parent=parent)
            )
    return tuple(out)


def _flat(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")


class RepoMap:
    """Files of a checkout at `commit` and their symbols; `truncated` when the checkout had
    more than MAX_FILES files (the rest are not in the map)."""

    def __init__(self, *, commit: str, files: Sequence[FileEntry], truncated: bool = False) -> None:
        self.commit, self.files, self.truncated = commit, tuple(files), truncated
        self._by_path = {f.path: f for f in self.files}

    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def entry(self, path: str) -> FileEntry | None:
        return self._by_path.get(path)

    def render(
        self, budget_tokens: int, count_tokens: CountTokens, first: Sequence[str] = ()
    ) -> str:
        """The map as prompt text within `budget_tokens`: the files in `first` (most relevant
        first) then the rest by path; a file that does not fit with its symbols is listed by
        path alone, and whatever does not fit at all is counted in a closing note."""
        by_path = self._by_path
        order = [p for p in dict.fromkeys(first) if p in by_path]
        chosen = set(order)
        order += [f.path for f in self.files if f.path not in chosen]
        blocks: list[str] = []
        used = 0
        for i, path in enumerate(order):
            entry = by_path[path]
            for block in (_file_block(entry), f"{path} ({len(entry.symbols)} symbols)"):
                cost = count_tokens(block) + 1
                if used + cost <= budget_tokens:
                    blocks.append(block)
                    used += cost
                    break
            else:
                blocks.append(f"... {len(order) - i} more files not shown")
                break
        if self.truncated:
            blocks.append(f"... the repository has more than {MAX_FILES} files")
        return fit_blocks(blocks, budget_tokens, count_tokens)


def fit_blocks(blocks: Sequence[str], budget_tokens: int, count_tokens: CountTokens) -> str:
    """Blocks joined by newlines, dropping trailing blocks until the whole counts within budget
    (token counts of parts and of their join can differ by a few)."""
    kept = list(blocks)
    while kept:
        text = "\n".join(kept)
        if count_tokens(text) <= budget_tokens:
            return text
        kept.pop()
    return ""


def _file_block(entry: FileEntry) -> str:
    lines = [entry.path]
    for s in entry.symbols:
        indent = "    " if s.parent else "  "
        lines.append(f"{indent}{s.kind} {s.name} {s.line}-{s.end_line}")
    return "\n".join(lines)


def walk(repo_dir: Path) -> Iterator[str]:
    """Relative paths of candidate files, sorted, without descending into skipped directories
    or symlinked ones."""
    for dirpath, dirnames, filenames in os.walk(repo_dir, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        rel = os.path.relpath(dirpath, repo_dir)
        for name in sorted(filenames):
            if not _candidate(name):
                continue
            yield name if rel == "." else f"{rel}/{name}"


def read_source(repo_dir: Path, path: str) -> str | None:
    """The file's text, or None when it is missing, a symlink, binary or too large."""
    try:
        data = safefs.read_bytes(repo_dir, path, max_bytes=MAX_FILE_BYTES)
    except InvalidInput:
        return None  # over the size limit
    return _text(data)


def read_sources(repo_dir: Path) -> Iterator[tuple[str, str]]:
    """(path, text) of the files `walk` gives, in its order, skipping those `read_source`
    would not read; the tree read in one pass."""
    for path, data in safefs.files_under(repo_dir, SKIP_DIRS, _candidate, MAX_FILE_BYTES):
        text = _text(data)
        if text is not None:
            yield path, text


def _candidate(name: str) -> bool:
    return name not in SKIP_NAMES and not name.lower().endswith(SKIP_SUFFIXES)


def _text(data: bytes | None) -> str | None:
    if data is None or b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def scan(repo_dir: Path, commit: str) -> RepoMap:
    files: list[FileEntry] = []
    truncated = False
    for path, text in read_sources(repo_dir):
        if len(files) >= MAX_FILES:
            truncated = True
            break
        language = LANGUAGES.get(Path(path).suffix.lower(), "")
        symbols = extract_symbols(text, language) if language else ()
        files.append(FileEntry(path=path, language=language, symbols=symbols))
    return RepoMap(commit=commit, files=tuple(files), truncated=truncated)


_GRAMMARS = {  # language -> (module, function returning the grammar)
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "java": ("tree_sitter_java", "language"),
    "rust": ("tree_sitter_rust", "language"),
}


@functools.cache
def _grammar(language: str) -> Language:
    # Imported on first use: each grammar is a compiled module and most repositories need few.
    module, function = _GRAMMARS[language]
    return Language(getattr(importlib.import_module(module), function)())


def extract_symbols(text: str, language: str) -> tuple[Symbol, ...]:
    """Top-level definitions and the members of classes, impls and the like, in source order."""
    if language not in _GRAMMARS:
        raise InvalidInput(f"no grammar for {language!r}; known: {', '.join(sorted(_GRAMMARS))}")
    family = "js" if language in ("javascript", "typescript", "tsx") else language
    tree = Parser(_grammar(language)).parse(text.encode("utf-8"))
    collector = _Collector(family)
    collector.members(tree.root_node, "", False, 0)
    return tuple(collector.symbols)


_CONTAINERS = {  # node type -> (kind, whether its function members are methods)
    "class_definition": ("class", True), "class_declaration": ("class", True),
    "class": ("class", True), "abstract_class_declaration": ("class", True),
    "interface_declaration": ("interface", True), "enum_declaration": ("enum", True),
    "record_declaration": ("class", True), "annotation_type_declaration": ("interface", True),
    "trait_item": ("trait", True), "mod_item": ("module", False),
    "internal_module": ("namespace", False),
}  # fmt: skip
_FUNCTIONS = {
    "function_definition", "function_declaration", "generator_function_declaration",
    "function_signature", "method_definition", "method_signature", "abstract_method_signature",
    "method_declaration", "constructor_declaration", "function_item", "function_signature_item",
}  # fmt: skip
_PLAIN = {
    "type_alias_declaration": "type", "struct_item": "struct", "enum_item": "enum",
    "type_item": "type", "union_item": "struct", "macro_definition": "macro",
}  # fmt: skip
_WRAPPERS = {
    "decorated_definition", "export_statement", "ambient_declaration", "expression_statement",
    "lexical_declaration", "variable_declaration", "type_declaration", "enum_body_declarations",
}  # fmt: skip
_FIELDS = {"field_definition", "public_field_definition"}  # JS/TS `handler = () => {}`
_FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function"}
_MAX_DEPTH = 3


def _name(node: Node, field: str = "name") -> str:
    child = node.child_by_field_name(field)
    return child.text.decode("utf-8", errors="replace") if child and child.text else ""


class _Collector:
    """Walks definitions only: function bodies are never entered, so locals stay out."""

    def __init__(self, family: str) -> None:
        self.family = family
        self.symbols: list[Symbol] = []

    def add(self, node: Node, name: str, kind: str, parent: str) -> None:
        if name:
            line, end = node.start_point.row + 1, node.end_point.row + 1
            self.symbols.append(
                Symbol(name=name, kind=kind, line=line, end_line=end, parent=parent)
            )

    def members(self, node: Node | None, parent: str, in_type: bool, depth: int) -> None:
        if node is None or depth > _MAX_DEPTH:
            return
        for child in node.named_children:
            self.definition(child, parent, in_type, depth)

    def definition(self, node: Node, parent: str, in_type: bool, depth: int) -> None:
        kind = node.type
        function_kind = "method" if in_type else "function"
        if kind in _WRAPPERS:
            self.members(node, parent, in_type, depth)
        elif kind in _CONTAINERS:
            name = _name(node)
            label, holds_methods = _CONTAINERS[kind]
            self.add(node, name, label, parent)
            if name:
                inner = f"{parent}.{name}" if parent else name
                self.members(node.child_by_field_name("body"), inner, holds_methods, depth + 1)
        elif kind == "method_declaration" and self.family == "go":
            receiver = _go_receiver(node)
            self.add(node, _name(node), "method" if receiver else "function", receiver)
        elif kind in _FUNCTIONS:
            self.add(node, _name(node), function_kind, parent)
        elif kind in _PLAIN:
            self.add(node, _name(node), _PLAIN[kind], parent)
        elif kind == "type_spec":  # Go
            shape = node.child_by_field_name("type")
            go_kind = {"struct_type": "struct", "interface_type": "interface"}
            self.add(node, _name(node), go_kind.get(shape.type if shape else "", "type"), parent)
        elif kind == "impl_item":  # Rust: the methods belong to the implementing type
            target, trait = _name(node, "type"), _name(node, "trait")
            self.add(node, f"{trait} for {target}" if trait else target, "impl", parent)
            self.members(node.child_by_field_name("body"), target, True, depth + 1)
        elif self.family == "js":
            self.js_binding(node, parent, function_kind)

    def js_binding(self, node: Node, parent: str, function_kind: str) -> None:
        """`const f = () => ...`, class fields holding functions, `exports.f = function ...`."""
        if node.type == "variable_declarator" or node.type in _FIELDS:
            name_field = "property" if node.type == "field_definition" else "name"
            value = node.child_by_field_name("value")
            if value is not None and value.type in _FUNCTION_VALUES:
                self.add(node, _name(node, name_field), function_kind, parent)
            elif value is not None and value.type == "class":
                self.add(node, _name(node, name_field), "class", parent)
        elif node.type == "assignment_expression":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if (
                left is not None
                and left.type == "member_expression"
                and right is not None
                and right.type in _FUNCTION_VALUES
            ):
                self.add(node, _name(left, "property"), "function", parent)


def _go_receiver(node: Node) -> str:
    receiver = node.child_by_field_name("receiver")
    text = receiver.text.decode("utf-8", errors="replace") if receiver and receiver.text else ""
    match = re.search(r"\*?\s*([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*\)$", text)
    return match.group(1) if match else ""
