"""terraform/ read as data: every .tf file parsed with python-hcl2 and normalised (quotes taken
off literal strings and keys, blocks as lists of dicts), so the tests below can assert on the
configuration's structure without terraform, providers or a cloud."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"


def tf_files() -> list[Path]:
    return sorted(p for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def normalise(node: Any) -> Any:
    if isinstance(node, dict):
        return {_unquote(k): normalise(v) for k, v in node.items() if not k.startswith("__")}
    if isinstance(node, list):
        return [normalise(v) for v in node]
    if isinstance(node, str):
        return _unquote(node)
    return node


def parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = normalise(hcl2.load(handle))
    return parsed


@dataclass(frozen=True)
class Config:
    resources: dict[str, dict[str, dict[str, Any]]]  # type -> name -> body
    locals: dict[str, Any]
    variables: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        try:
            return self.resources[kind][name]
        except KeyError:
            raise AssertionError(f"terraform/ declares no {kind}.{name}") from None

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(kind, {})


@cache
def config() -> Config:
    resources: dict[str, dict[str, dict[str, Any]]] = {}
    local_values: dict[str, Any] = {}
    variables: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for path in tf_files():
        doc = parse(path)
        for block in doc.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    assert name not in resources.get(kind, {}), f"{kind}.{name} declared twice"
                    resources.setdefault(kind, {})[name] = body
        for block in doc.get("locals", []):
            local_values.update(block)
        for block in doc.get("variable", []):
            variables.update(block)
        for block in doc.get("output", []):
            outputs.update(block)
    return Config(resources, local_values, variables, outputs)


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block `name` of a resource body."""
    found = body.get(name)
    assert isinstance(found, list) and len(found) == 1, f"expected one {name} block, got {found!r}"
    inner: dict[str, Any] = found[0]
    return inner
