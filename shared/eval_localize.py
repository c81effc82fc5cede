"""`errand eval localize`: how often retrieval ranks the files a fix touched near the top.

Each dataset line is `{"repo_path", "problem_statement", "gold_files": [...]}`; `repo_path` may
be relative to the dataset file. Other keys (public datasets carry `instance_id`, `base_commit`,
patches and more) are ignored, except `instance_id`, which `--details` echoes.

recall@k is the share of an item's gold files among its first k ranked files, averaged over
items; gold_in_context is the same share among the files whose text made it into the context.
Context tokens are those of the full context the agent would get (repo map and file excerpts)
within the budget, counted with the model's tokenizer."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import InvalidInput

DEFAULT_KS = (1, 5, 10)
DEFAULT_BUDGET_TOKENS = 12_000
DEFAULT_TOKENIZER_MODEL = "gpt-4o"


class Item(BaseModel):
    # A format others define (SWE-bench and its kin): take what is needed, ignore the rest.
    model_config = ConfigDict(extra="ignore")
    repo_path: str
    problem_statement: str
    gold_files: list[str] = Field(min_length=1)
    instance_id: str = ""


def load_dataset(dataset: Path) -> list[Item]:
    try:
        lines = dataset.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"cannot read the dataset {dataset}: {exc.strerror}") from exc
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            items.append(Item.model_validate_json(line))
        except ValidationError as exc:
            raise InvalidInput(
                f"{dataset}:{number} is not a dataset item ({_problem(exc)}); each line must be "
                'a JSON object with at least {"repo_path": str, "problem_statement": str, '
                '"gold_files": [str, ...]}'
            ) from exc
    if not items:
        raise InvalidInput(f"{dataset} holds no items; add one JSON object per line")
    return items


def _problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def run_eval(
    dataset: Path,
    ks: list[int],
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    count_tokens: Callable[[str], int] | None = None,
) -> dict[str, object]:
    """recall@k for each k, mean context tokens, and per-item ranks of the gold files.
    `count_tokens` defaults to litellm's tokenizer for DEFAULT_TOKENIZER_MODEL."""
    # Imported here: the agent's context code pulls in tree-sitter grammars.
    from jobs.agent.context_builder import Snapshot, assemble
    from jobs.agent.retrieval import litellm_token_counter

    if not ks or any(k < 1 for k in ks):
        raise InvalidInput(f"k values must be positive integers, got {ks}")
    items = load_dataset(dataset)
    count = count_tokens or litellm_token_counter(DEFAULT_TOKENIZER_MODEL)
    hits = {k: 0.0 for k in ks}
    tokens = 0
    in_context = 0.0  # share of gold files whose text (whole or excerpts) made it into the context
    details = []
    snapshots: dict[Path, Snapshot] = {}
    for item in items:
        repo = (dataset.parent / item.repo_path).resolve()
        if not repo.is_dir():
            raise InvalidInput(f"repo_path {item.repo_path!r} is not a directory: {repo}")
        if repo not in snapshots:
            # Not a real commit: the map is not cached across runs; the key only names it.
            key = hashlib.sha1(str(repo).encode()).hexdigest()
            snapshots[repo] = Snapshot.load(repo, key)
        built = assemble(snapshots[repo], item.problem_statement, budget_tokens, count)
        order = [path for path, _ in built.ranked]
        position = {path: i + 1 for i, path in enumerate(order)}
        for k in ks:
            found = sum(1 for g in item.gold_files if position.get(g, k + 1) <= k)
            hits[k] += found / len(item.gold_files)
        used = count(built.text)
        tokens += used
        shown = [g for g in item.gold_files if f"### {g} (" in built.text]
        in_context += len(shown) / len(item.gold_files)
        details.append(
            {
                **({"instance_id": item.instance_id} if item.instance_id else {}),
                "repo_path": item.repo_path,
                "gold_ranks": {g: position.get(g) for g in item.gold_files},
                "top": order[:3],
                "context_tokens": used,
            }
        )
    result: dict[str, object] = {f"recall@{k}": round(hits[k] / len(items), 3) for k in ks}
    result["gold_in_context"] = round(in_context / len(items), 3)
    result["mean_context_tokens"] = round(tokens / len(items), 1)
    result["items"] = len(items)
    result["budget_tokens"] = budget_tokens
    result["details"] = details
    return result


def parse_ks(text: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise InvalidInput(f"--k {text!r} must be comma-separated integers, e.g. 1,5,10") from exc
    return ks


def main(argv: Sequence[str] | None = None) -> int:
    """`errand eval localize --dataset FILE.jsonl [--k 1,5,10] [--budget-tokens N]
    [--details]`. Prints the figures as JSON; exit status 2 on bad input."""
    parser = argparse.ArgumentParser(prog="errand eval localize", description=__doc__)
    parser.add_argument("--dataset", type=Path, required=True, help="JSONL file of items")
    parser.add_argument("--k", default=",".join(map(str, DEFAULT_KS)), help="e.g. 1,5,10")
    parser.add_argument("--budget-tokens", type=int, default=DEFAULT_BUDGET_TOKENS)
    parser.add_argument("--details", action="store_true", help="include per-item gold ranks")
    args = parser.parse_args(argv)
    try:
        result = run_eval(args.dataset, parse_ks(args.k), args.budget_tokens)
    except InvalidInput as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if not args.details:
        result.pop("details")
    print(json.dumps(result, indent=2))
    return 0
