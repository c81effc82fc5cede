"""Which files matter for a task: BM25 over paths, symbols and contents, plus boosts for what
the task names (paths, dotted modules, symbols, stack-trace frames) and for the files next to
those: sources of named test files, imports either way, and definers of what named symbols call.
Pure: a checkout's map and texts in, ranked paths out."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence

from jobs.agent.bm25 import BM25, Encoded, term_counts, tokenize
from jobs.agent.graph import ImportGraph, calls_in, imports_of
from jobs.agent.mentions import Mentions, Resolver, is_test_path
from jobs.agent.repomap import RepoMap

FIELD_WEIGHTS = {"content": 1.0, "path": 1.0, "symbols": 0.5}
# Boosts are in units of the best BM25 score of the task, so they mean the same on any checkout.
PATH_BOOST = 1.0  # for a file the task names
MODULE_BOOST = 0.5  # for a file the task names as a dotted module (`pkg.module.Name`)
INNER_FRAME_BOOST = 1.5  # for the innermost stack-trace frame in the checkout: where it broke
FRAME_BOOST = 0.7  # for the other frames in the checkout
SYMBOL_BOOST = 0.3  # for each symbol the task names, shared among the files defining it
MAX_SYMBOL_BOOST = 0.6
TEST_SOURCE_BOOST = 0.5  # for the source files of a test file the task names
NEIGHBOUR_BOOST = 0.3  # shared among the imports and importers of a named file
MAX_NEIGHBOUR_BOOST = 0.1
CALL_BOOST = 0.1  # for the definers of a name called inside a named symbol
MAX_CALL_BOOST = 0.3
SEED_BOOST = 0.5  # a file boosted this much counts as named, for its neighbours
MAX_DEFINERS = 3  # a name defined in more places than this is too common to follow
TEST_WEIGHT = 0.5  # for test files when the task does not mention tests
DOC_WEIGHT = 0.5  # for files that are not code (changelogs, READMEs, manifests)


class Index:
    """BM25 indexes of one checkout (paths, symbol names, contents), its import graph and symbol
    definers, built once and queried per task. `fields` (see `index_fields`) and `imports` (per
    path, as `imports_of` gives them) are passed in when a cache holds them, computed from
    `contents` otherwise. Not thread-safe: postings are decoded on first use."""

    def __init__(
        self,
        repo_map: RepoMap,
        contents: Mapping[str, str],
        *,
        fields: Mapping[str, BM25] | None = None,
        imports: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.repo_map = repo_map
        self.contents = contents
        self.paths = repo_map.paths()
        if fields is None:
            fields = index_fields(repo_map, lambda path: term_counts(contents.get(path, "")))
        if imports is None:
            imports = {
                f.path: imports_of(contents.get(f.path, ""), f.language) for f in repo_map.files
            }
        self.fields = fields
        self.code = {f.path for f in repo_map.files if f.language}
        # by name, filled for the names a task asks about: listing every file's symbols up front
        # took most of the time of a warm start on a large checkout
        self._definers: dict[str, list[str]] = {}
        self.resolver = Resolver(self.paths)
        self.graph = ImportGraph(self.resolver, imports)

    def definers(self, name: str) -> list[str]:
        """The files that define a symbol called `name`, in map order."""
        found = self._definers.get(name)
        if found is None:
            found = self._definers[name] = [
                f.path for f in self.repo_map.files if f.may_define(name) and name in f.names()
            ]
        return found

    def rank(self, task_text: str) -> list[tuple[str, float]]:
        """Every file with a positive score, best first (ties by path)."""
        query = tokenize(task_text)
        total: defaultdict[str, float] = defaultdict(float)
        for field, index in self.fields.items():
            for path, score in index.scores(query).items():
                total[path] += FIELD_WEIGHTS[field] * score
        about_tests = "test" in query
        for path in total:
            # The task is about behaviour, so its fix lives in source files; tests and prose that
            # use the same words would otherwise crowd them out.
            if not about_tests and is_test_path(path):
                total[path] *= TEST_WEIGHT
            if path not in self.code:
                total[path] *= DOC_WEIGHT
        top = max(total.values(), default=1.0)
        for path, extra in self.boosts(Mentions.of(task_text)).items():
            total[path] += extra * top
        return sorted(total.items(), key=lambda item: (-item[1], item[0]))

    def boosts(self, mentions: Mentions) -> dict[str, float]:
        """Extra score per file, in units of the task's best BM25 score."""
        boost: defaultdict[str, float] = defaultdict(float)
        self._named(mentions, boost)
        symbols: defaultdict[str, float] = defaultdict(float)
        for name in mentions.identifiers:
            paths = self.definers(name)
            for path in paths:
                symbols[path] = min(MAX_SYMBOL_BOOST, symbols[path] + SYMBOL_BOOST / len(paths))
        for path, extra in symbols.items():
            boost[path] += extra
        seeds = [path for path, extra in boost.items() if extra >= SEED_BOOST]
        for path in seeds:
            for source in self.resolver.sources_for_test(path) if is_test_path(path) else ():
                boost[source] += TEST_SOURCE_BOOST
        near: defaultdict[str, float] = defaultdict(float)
        for path in seeds:
            neighbours = self.graph.neighbours.get(path, set())
            for other in neighbours:
                share = NEIGHBOUR_BOOST / len(neighbours)
                near[other] = min(MAX_NEIGHBOUR_BOOST, near[other] + share)
        for path, extra in self._called(mentions).items():
            near[path] = min(MAX_NEIGHBOUR_BOOST + MAX_CALL_BOOST, near[path] + extra)
        for path, extra in near.items():
            boost[path] += extra
        return boost

    def _named(self, mentions: Mentions, boost: defaultdict[str, float]) -> None:
        in_trace: set[str] = set()
        inner = True
        for frame in mentions.frames:
            found = self.resolver.path(frame.path)
            if len(found) != 1:
                continue
            weight = INNER_FRAME_BOOST if inner else FRAME_BOOST
            if found[0] not in in_trace:
                boost[found[0]] += weight
                in_trace.add(found[0])
            inner = False
        frame_paths = {f.path for f in mentions.frames}
        for mention in mentions.paths:
            if mention in frame_paths:
                continue
            named = [p for p in self.resolver.path(mention) if p not in in_trace]
            for path in named:
                boost[path] += PATH_BOOST / len(named)
        for module in mentions.modules:
            named = self.resolver.module(module)
            for path in named:
                boost[path] += MODULE_BOOST / len(named)

    def _called(self, mentions: Mentions) -> dict[str, float]:
        """The definers of names called inside the symbols the task names."""
        out: defaultdict[str, float] = defaultdict(float)
        for name in mentions.identifiers:
            homes = self.definers(name)
            if not homes or len(homes) > MAX_DEFINERS:
                continue
            for home in homes:
                entry = self.repo_map.entry(home)
                text = self.contents.get(home)
                if entry is None or text is None:
                    continue
                for symbol in (s for s in entry.symbols if s.name == name):
                    for called in calls_in(text, symbol.line, symbol.end_line) - {name}:
                        targets = [p for p in self.definers(called) if p != home]
                        if 0 < len(targets) <= MAX_DEFINERS:
                            for target in targets:
                                share = CALL_BOOST / len(targets)
                                out[target] = min(MAX_CALL_BOOST, out[target] + share)
        return out


def index_fields(
    repo_map: RepoMap,
    terms: Callable[[str], Mapping[str, int]],
    *,
    base: Mapping[str, Encoded] | None = None,
    unchanged: Collection[str] = (),
) -> dict[str, BM25]:
    """The BM25 fields of the map's files; `terms(path)` gives a file's content term counts.
    With `base` (a cached index of an earlier read), only the files not in `unchanged` are
    tokenised; the rest are read from `base` when a query needs them."""
    keep = unchanged if base else ()
    todo = [f for f in repo_map.files if f.path not in keep]
    docs: dict[str, dict[str, Sequence[str] | Mapping[str, int]]] = {
        "content": {f.path: terms(f.path) for f in todo},
        "path": {f.path: tokenize(re.sub(r"[/.\-]", " ", f.path)) for f in todo},
        "symbols": {f.path: tokenize(" ".join(f.names())) for f in todo},
    }
    return {
        field: BM25(found, base=base.get(field) if base else None, keep=keep)
        for field, found in docs.items()
    }


def rank(task_text: str, repo_map: RepoMap, contents: Mapping[str, str]) -> list[tuple[str, float]]:
    """Every file of the map with a positive score for the task, best first. Build an `Index`
    instead when ranking several tasks against one checkout."""
    return Index(repo_map, contents).rank(task_text)
