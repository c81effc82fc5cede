"""Which files are near one another: the import graph (Python and JavaScript/TypeScript imports
resolved to files of the checkout) and the calls made inside a symbol's body. Pure."""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence

from jobs.agent.mentions import Resolver

_PY_FROM = re.compile(
    r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([^\n#]*))", re.M
)
_PY_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w.]+(?:[ \t]*,[ \t]*[\w.]+)*)", re.M)
_JS_SPEC = re.compile(
    r"(?:\bfrom[ \t]*|\bimport[ \t]*\(?[ \t]*|\brequire[ \t]*\([ \t]*)"
    r"""['"](\.{1,2}/[^'"\n]+)['"]"""
)
_CALLED = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_JS_EXTENSIONS = (".js", ".ts", ".tsx", ".jsx", ".mjs", ".cjs", "/index.js", "/index.ts")
MAX_IMPORTS = 200  # per file: generated modules can import thousands of names


def imports_of(text: str, language: str) -> tuple[str, ...]:
    """Import specs as written: Python `pkg.mod`, `..mod`, `pkg.mod.Name` (a name imported from
    a module may itself be a submodule); JS/TS relative specifiers (`./util`). Package imports
    in JS (`lodash`) are left out: they are not files of the checkout."""
    found: list[str] = []
    if language == "python":
        for module, grouped, plain in _PY_FROM.findall(text):
            names = grouped or plain
            found.append(module)
            base = module if module.endswith(".") else module + "."
            for name in re.split(r"[\s,\\()]+", names):
                if name and name != "as" and name.isidentifier():
                    found.append(base + name)
        for group in _PY_IMPORT.findall(text):
            found.extend(part.strip() for part in group.split(","))
    elif language in ("javascript", "typescript", "tsx"):
        found.extend(_JS_SPEC.findall(text))
    return tuple(dict.fromkeys(found))[:MAX_IMPORTS]


class ImportGraph:
    """Files each file imports and is imported by, within one checkout."""

    def __init__(self, resolver: Resolver, imports: Mapping[str, Sequence[str]]) -> None:
        self._known = set(resolver.paths)
        self._resolver = resolver
        self.neighbours: defaultdict[str, set[str]] = defaultdict(set)
        for path, specs in imports.items():
            for spec in specs:
                target = self._resolve(path, spec)
                if target and target != path:
                    self.neighbours[path].add(target)
                    self.neighbours[target].add(path)

    def _resolve(self, path: str, spec: str) -> str | None:
        folder = posixpath.dirname(path)
        if spec.startswith("./") or spec.startswith("../"):
            base = posixpath.normpath(posixpath.join(folder, spec))
            for candidate in (base, *(base + ext for ext in _JS_EXTENSIONS)):
                if candidate in self._known:
                    return candidate
            return None
        if spec.startswith("."):
            dots = len(spec) - len(spec.lstrip("."))
            for _ in range(dots - 1):
                folder = posixpath.dirname(folder)
            rest = spec[dots:].replace(".", "/")
            base = posixpath.join(folder, rest) if rest else folder
            for candidate in (base + ".py", base + "/__init__.py"):
                if candidate in self._known:
                    return candidate
            return None
        found = self._resolver.module(spec.replace(".", "/"))
        return found[0] if len(found) == 1 else None


def calls_in(text: str, start: int, end: int) -> set[str]:
    """Names called between lines `start` and `end` (1-based, inclusive) of `text`."""
    body = "\n".join(text.split("\n")[start - 1 : end])
    return set(_CALLED.findall(body))
