"""The repository part of the agent's prompt: a repo map and the files most relevant to the
task, within a token budget."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jobs.agent.context_cache import TreeFacts
from jobs.agent.context_cache import load as load_checkout
from jobs.agent.instructions import RepoInstructions
from jobs.agent.ranking import Index
from jobs.agent.repomap import CountTokens, RepoMap, fit_blocks
from jobs.agent.retrieval import pack

MAP_SHARE = 0.25  # of the budget, for the repo map; the rest goes to file contents
DIRECTORY_INSTRUCTIONS_CHARS = 1500  # per nested AGENTS.md
RANKED_FOR_INSTRUCTIONS = 5  # nested AGENTS.md governing this many top-ranked files are shown
SEAM_TOKENS = 16  # slack given up per retry when the joined text counts over the budget
MAX_INDEXED_CHARS = 64_000_000  # file contents held for ranking, per checkout
MAP_HEADER = "## Repository map (most relevant files first; symbol line spans)"
FILES_HEADER = "## Relevant files (ranked against the task)"
DIRS_HEADER = "## Directory instructions (nested AGENTS.md files; the nearest one wins)"


@dataclass(frozen=True)
class Snapshot:
    """A checkout read once from the trusted side: map, file texts and instruction files."""

    repo_dir: Path
    repo_map: RepoMap
    contents: dict[str, str]
    instructions: RepoInstructions
    index: Index

    @classmethod
    def load(cls, repo_dir: Path, commit: str, cached: TreeFacts | None = None) -> Snapshot:
        """Reads the checkout, taking each file's facts from `cached` (see `context_cache`)
        where its content is known there. `commit` is the sha the trusted side checked out."""
        checkout = load_checkout(repo_dir, commit, cached)
        repo_map = checkout.repo_map()
        contents: dict[str, str] = {}
        total = 0
        # Source files first: past the cap, the rest are ranked without their text in the prompt.
        for entry in sorted(repo_map.files, key=lambda f: not f.language):
            text = checkout.texts[entry.path]
            if total + len(text) <= MAX_INDEXED_CHARS:
                contents[entry.path] = text
                total += len(text)
        instructions = RepoInstructions.discover(repo_dir, repo_map.paths())
        fields = checkout.fields(repo_map)
        index = Index(repo_map, contents, fields=fields, imports=checkout.imports())
        return cls(repo_dir, repo_map, contents, instructions, index)


@dataclass(frozen=True)
class BuiltContext:
    text: str
    ranked: list[tuple[str, float]]


def assemble(
    snapshot: Snapshot, task_text: str, budget_tokens: int, count_tokens: CountTokens
) -> BuiltContext:
    ranked = snapshot.index.rank(task_text)
    top = [path for path, _ in ranked]
    map_text = snapshot.repo_map.render(int(budget_tokens * MAP_SHARE), count_tokens, first=top)
    sections = [f"{MAP_HEADER}\n{map_text}"]
    nested = _directory_instructions(snapshot.instructions, top[:RANKED_FOR_INSTRUCTIONS])
    if nested:
        sections.append(f"{DIRS_HEADER}\n{nested}")
    head = fit_blocks(sections, budget_tokens, count_tokens)
    files_budget = budget_tokens - count_tokens(head) - count_tokens(FILES_HEADER) - 2
    for _ in range(3):
        # Token counts of the parts and of their join differ by a few at the seams: shrink the
        # files' share by the overflow until the whole fits.
        files_text = pack(
            ranked,
            max(0, files_budget),
            count_tokens,
            contents=snapshot.contents,
            repo_map=snapshot.repo_map,
            task_text=task_text,
        )
        text = f"{head}\n{FILES_HEADER}\n{files_text}" if files_text else head
        overflow = count_tokens(text) - budget_tokens
        if overflow <= 0:
            return BuiltContext(text, ranked)
        files_budget -= overflow + SEAM_TOKENS
    return BuiltContext(head, ranked)


def _directory_instructions(instructions: RepoInstructions, paths: list[str]) -> str:
    governing = dict.fromkeys(instructions.agents_file_for(p) for p in paths)
    parts = []
    for name in governing:
        if name is None or "/" not in name:
            continue  # the root AGENTS.md is part of the repository instructions
        text = instructions.agents_for(name).strip()[:DIRECTORY_INSTRUCTIONS_CHARS]
        folder = name.rsplit("/", 1)[0]
        parts.append(f"### {name} (applies to files under {folder}/)\n{text}")
    return "\n\n".join(parts)


def build_context(
    repo_dir: Path,
    commit: str,
    task_text: str,
    cached: TreeFacts | None,
    budget_tokens: int,
    count_tokens: CountTokens,
) -> str:
    """Repo map, nested AGENTS.md for the likely files, and ranked file excerpts, within
    `budget_tokens` as counted by `count_tokens`. `commit` is the sha the trusted side checked
    out; `cached` the facts the context cache holds for it (None: computed here). The tree is
    only read, never executed."""
    snapshot = Snapshot.load(repo_dir, commit, cached)
    return assemble(snapshot, task_text, budget_tokens, count_tokens).text
