"""What a task's text names: paths, dotted modules, identifiers and stack-trace frames, and how
those mentions resolve to the files of a checkout. Pure: text and path lists in, paths out."""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

MIN_IDENTIFIER = 3  # shorter names (`i`, `e.g`, `py`) match too much by chance
_WORD = re.compile(r"[A-Za-z0-9_]+")
_CODE_SPANS = re.compile(r"```.*?```|`[^`\n]+`", re.S)
_PATHLIKE = re.compile(
    r"(?<![\w/.-])(?:\.{1,2}/)*[\w.-]*[\w-]/[\w./-]*\w|\b[\w-]+\.[A-Za-z][A-Za-z0-9]{0,4}\b"
)
_DOTTED = re.compile(r"(?<![\w/.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_CALLED = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_SOURCE_FILE = r"[^\s\"'()<>:]+\.(?:py|pyi|js|mjs|cjs|jsx|ts|tsx|go|java|rs|rb|php)"
# One pattern per runtime's traceback line: Python, JS (`at f (file:1:2)` or `at file:1:2`),
# Java (`at pkg.Cls.m(File.java:12)`), Go and Rust (`file.go:12`), and bare `file.py:12`.
_FRAMES = (
    re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>[\w.<>]+))?'),
    re.compile(
        r"\bat (?:(?:new |async )?(?P<func>[\w$.<>\[\] ]+?) \()?(?:file://)?"
        rf"(?P<path>{_SOURCE_FILE}):(?P<line>\d+)(?::\d+)?\)?"
    ),
    re.compile(r"\bat (?P<func>[\w$.]+)\((?P<path>\w+\.java):(?P<line>\d+)\)"),
    re.compile(rf"(?P<path>{_SOURCE_FILE}):(?P<line>\d+)"),
)
_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs"})
_TEST_FILE = re.compile(r"^test_|_test\.\w+$|\.(test|spec)\.\w+$|^conftest\.py$")
_TEST_AFFIXES = re.compile(r"^test_|_tests?$|\.(test|spec)$")
CODE_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go", ".java", ".rs")


@dataclass(frozen=True)
class Frame:
    """One line of a stack trace."""

    path: str
    line: int
    function: str


def frames(text: str) -> list[Frame]:
    """Stack-trace frames in `text` (Python, JavaScript, Java, Go, Rust), innermost first: a
    Python traceback prints the innermost frame last, the others print it first."""
    python: list[Frame] = []
    others: list[Frame] = []
    for line in text.splitlines():
        for i, pattern in enumerate(_FRAMES):
            match = pattern.search(line)
            if match:
                func = (match.group("func") or "").strip().rsplit(".", 1)[-1]
                frame = Frame(match.group("path"), int(match.group("line")), func)
                (python if i == 0 else others).append(frame)
                break
    return [*reversed(python), *others]


@dataclass(frozen=True)
class Mentions:
    """What the task text names explicitly."""

    paths: frozenset[str]  # `src/app/models.py`, `models.py`, `/usr/lib/.../app/models.py`
    modules: frozenset[str]  # `app.models.User` -> app/models, app/models/User
    identifiers: frozenset[str]  # code-like words: in backticks, called, dotted, snake/camel
    frames: tuple[Frame, ...] = ()

    @classmethod
    def of(cls, text: str) -> Mentions:
        code = " ".join(m.group(0).strip("`") for m in _CODE_SPANS.finditer(text))
        identifiers = set(_WORD.findall(code)) | set(_CALLED.findall(text))
        for word in _WORD.findall(text):
            inner_caps = any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
            if ("_" in word.strip("_") or inner_caps) and not word.isdigit():
                identifiers.add(word)
        modules: set[str] = set()
        for dotted in _DOTTED.findall(text):
            parts = dotted.split(".")
            identifiers.update(parts)
            modules.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))
        paths = {re.sub(r"^(\.\.?/)+", "", m.group(0)) for m in _PATHLIKE.finditer(text)}
        trace = tuple(frames(text))
        identifiers.update(f.function for f in trace if f.function)
        identifiers = {i for i in identifiers if len(i) >= MIN_IDENTIFIER}
        return cls(frozenset(paths), frozenset(modules), frozenset(identifiers), trace)


def is_test_path(path: str) -> bool:
    parts = path.lower().split("/")
    return bool(set(parts[:-1]) & _TEST_DIRS) or bool(_TEST_FILE.search(parts[-1]))


class Resolver:
    """Finds the files of a checkout that a mentioned path or module means, by the longest run
    of trailing path components they share: `/usr/lib/python3/site-packages/pkg/mod.py` and
    `pkg/mod.py` both mean `src/pkg/mod.py`."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        self.by_name: defaultdict[str, list[str]] = defaultdict(list)
        self.by_stem: defaultdict[str, list[str]] = defaultdict(list)
        for path in self.paths:
            name = posixpath.basename(path)
            self.by_name[name].append(path)
            stem, suffix = posixpath.splitext(path)
            if suffix in CODE_SUFFIXES:
                if posixpath.basename(stem) in ("__init__", "index", "mod"):
                    stem = posixpath.dirname(stem)
                self.by_stem[posixpath.basename(stem)].append(path)

    def path(self, mention: str) -> list[str]:
        """The files sharing the most trailing components with `mention` (at least its file
        name; a bare name matching many files in different places means none of them)."""
        parts = [p for p in mention.strip().strip("/").split("/") if p not in ("", ".")]
        if not parts:
            return []
        return _longest_suffix(parts, self.by_name.get(parts[-1], []), _components)

    def module(self, dotted_path: str) -> list[str]:
        """Files whose module path ends with `a/b/c` (from `a.b.c`), packages included."""
        parts = dotted_path.split("/")
        if len(parts) < 2:
            return []
        found = _longest_suffix(parts, self.by_stem.get(parts[-1], []), _module_parts)
        return found if found and len(_common_suffix(parts, _module_parts(found[0]))) >= 2 else []

    def sources_for_test(self, test_path: str) -> list[str]:
        """The source files a test file exercises, by name (`tests/test_utils.py` ->
        `src/pkg/utils.py`; `foo.test.ts` -> `foo.ts`), nearest directory first."""
        stem = posixpath.splitext(posixpath.basename(test_path))[0]
        target = _TEST_AFFIXES.sub("", stem)
        if not target or target == stem:
            return []
        found = [p for p in self.by_stem.get(target, []) if not is_test_path(p)]
        return sorted(found, key=lambda p: -_shared_dirs(p, test_path))[:2]


def _components(path: str) -> list[str]:
    return path.split("/")


def _module_parts(path: str) -> list[str]:
    stem = posixpath.splitext(path)[0]
    parts = stem.split("/")
    return parts[:-1] if parts[-1] in ("__init__", "index", "mod") else parts


def _common_suffix(a: Sequence[str], b: Sequence[str]) -> list[str]:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return list(a[len(a) - n :])


def _shared_dirs(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.split("/")[:-1], b.split("/")[:-1], strict=False):
        if x != y:
            break
        n += 1
    return n


def _longest_suffix(
    parts: Sequence[str], candidates: Iterable[str], split: Callable[[str], Sequence[str]]
) -> list[str]:
    scored: defaultdict[int, list[str]] = defaultdict(list)
    for path in candidates:
        scored[len(_common_suffix(parts, split(path)))].append(path)
    if not scored:
        return []
    best = max(scored)
    found = scored[best]
    # A bare file name shared by files in several places (`utils.py`) names none of them for
    # sure; more than three is a guess, not a mention.
    return found if best > 0 and len(found) <= 3 else []
