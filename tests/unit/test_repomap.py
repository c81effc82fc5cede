"""Repo map: symbols per language from tree-sitter, the trusted-side file walk, the per-commit
cache and the rendered map."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.agent.repomap import (
    MAX_FILE_BYTES,
    FileEntry,
    decode_symbols,
    encode_symbols,
    extract_symbols,
    scan,
)
from shared.errors import InvalidInput

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def table(text: str, language: str) -> list[tuple[str, str, int, int, str]]:
    return [(s.kind, s.name, s.line, s.end_line, s.parent) for s in extract_symbols(text, language)]


def words(text: str) -> int:
    return len(text.split())


def test_python_classes_functions_methods() -> None:
    source = '''"""Cache helpers."""
import functools

MAX = 10


@functools.cache
def load(path):
    def inner():
        return path
    return inner


class Store:
    """A store."""

    def get(self, key):
        return key

    async def fetch(self, key):
        return key

    class Meta:
        def describe(self):
            return "meta"
'''
    assert table(source, "python") == [
        ("function", "load", 8, 11, ""),
        ("class", "Store", 14, 25, ""),
        ("method", "get", 17, 18, "Store"),
        ("method", "fetch", 20, 21, "Store"),
        ("class", "Meta", 23, 25, "Store"),
        ("method", "describe", 24, 25, "Store.Meta"),
    ]


def test_javascript_declarations_arrows_classes_and_exports() -> None:
    source = """const debug = require('./debug')

function parse (version, options) {
  return version
}

const coerce = (version) => {
  return parse(version)
}

class Range {
  constructor (range) {
    this.range = range
  }

  test (version) {
    return true
  }
}

exports.format = function (v) { return String(v) }
module.exports = { parse, coerce, Range }
"""
    assert table(source, "javascript") == [
        ("function", "parse", 3, 5, ""),
        ("function", "coerce", 7, 9, ""),
        ("class", "Range", 11, 19, ""),
        ("method", "constructor", 12, 14, "Range"),
        ("method", "test", 16, 18, "Range"),
        ("function", "format", 21, 21, ""),
    ]


def test_typescript_interfaces_types_enums_and_exported_classes() -> None:
    source = """export interface Options {
  loose?: boolean
}

export type Release = 'major' | 'minor'

enum Level { Low, High }

export abstract class Base {
  abstract compare(other: Base): number
}

export class SemVer extends Base {
  private raw = ''
  handle = (x: number) => x * 2

  compare(other: SemVer): number {
    return 0
  }
}

export default function inc(v: string, release: Release): string {
  return v
}
"""
    assert table(source, "typescript") == [
        ("interface", "Options", 1, 3, ""),
        ("type", "Release", 5, 5, ""),
        ("enum", "Level", 7, 7, ""),
        ("class", "Base", 9, 11, ""),
        ("method", "compare", 10, 10, "Base"),
        ("class", "SemVer", 13, 20, ""),
        ("method", "handle", 15, 15, "SemVer"),
        ("method", "compare", 17, 19, "SemVer"),
        ("function", "inc", 22, 24, ""),
    ]


def test_tsx_components() -> None:
    source = """import React from 'react'

export function TaskList({ tasks }: { tasks: string[] }) {
  return <ul>{tasks.map((t) => <li key={t}>{t}</li>)}</ul>
}

export const Empty = () => <p>No tasks</p>
"""
    assert table(source, "tsx") == [
        ("function", "TaskList", 3, 5, ""),
        ("function", "Empty", 7, 7, ""),
    ]


def test_go_types_functions_and_methods_with_receivers() -> None:
    source = """package cache

type Store struct {
	items map[string]string
}

type Getter interface {
	Get(key string) (string, bool)
}

type (
	Key   string
	Tuple[T any] struct{ a, b T }
)

func New() *Store {
	return &Store{items: map[string]string{}}
}

func (s *Store) Get(key string) (string, bool) {
	v, ok := s.items[key]
	return v, ok
}

func (t Tuple[T]) First() T { return t.a }
"""
    assert table(source, "go") == [
        ("struct", "Store", 3, 5, ""),
        ("interface", "Getter", 7, 9, ""),
        ("type", "Key", 12, 12, ""),
        ("struct", "Tuple", 13, 13, ""),
        ("function", "New", 16, 18, ""),
        ("method", "Get", 20, 23, "Store"),
        ("method", "First", 25, 25, "Tuple"),
    ]


def test_java_classes_interfaces_enums_records() -> None:
    source = """package org.example.cache;

import java.util.Map;

public class Store<K, V> {
    private final Map<K, V> items;

    public Store(Map<K, V> items) {
        this.items = items;
    }

    public V get(K key) {
        return items.get(key);
    }

    static class Entry {
        int size() { return 1; }
    }
}

interface Getter {
    Object get(Object key);
}

enum Policy {
    LRU, FIFO;

    boolean evicts() { return true; }
}

record Pair(int left, int right) {
    int sum() { return left + right; }
}
"""
    assert table(source, "java") == [
        ("class", "Store", 5, 19, ""),
        ("method", "Store", 8, 10, "Store"),
        ("method", "get", 12, 14, "Store"),
        ("class", "Entry", 16, 18, "Store"),
        ("method", "size", 17, 17, "Store.Entry"),
        ("interface", "Getter", 21, 23, ""),
        ("method", "get", 22, 22, "Getter"),
        ("enum", "Policy", 25, 29, ""),
        ("method", "evicts", 28, 28, "Policy"),
        ("class", "Pair", 31, 33, ""),
        ("method", "sum", 32, 32, "Pair"),
    ]


def test_rust_items_impls_traits_and_modules() -> None:
    source = """use std::collections::HashMap;

pub struct Store {
    items: HashMap<String, String>,
}

pub enum Policy { Lru, Fifo }

pub trait Getter {
    fn get(&self, key: &str) -> Option<&String>;
}

impl Store {
    pub fn new() -> Self {
        Store { items: HashMap::new() }
    }
}

impl Getter for Store {
    fn get(&self, key: &str) -> Option<&String> {
        self.items.get(key)
    }
}

pub fn open() -> Store { Store::new() }

mod util {
    pub fn hash(s: &str) -> u64 { s.len() as u64 }
}

macro_rules! store { () => { Store::new() }; }
"""
    assert table(source, "rust") == [
        ("struct", "Store", 3, 5, ""),
        ("enum", "Policy", 7, 7, ""),
        ("trait", "Getter", 9, 11, ""),
        ("method", "get", 10, 10, "Getter"),
        ("impl", "Store", 13, 17, ""),
        ("method", "new", 14, 16, "Store"),
        ("impl", "Getter for Store", 19, 23, ""),
        ("method", "get", 20, 22, "Store"),
        ("function", "open", 25, 25, ""),
        ("module", "util", 27, 29, ""),
        ("function", "hash", 28, 28, "util"),
        ("macro", "store", 31, 31, ""),
    ]


def test_unknown_language_is_an_error_that_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="python"):
        extract_symbols("x", "cobol")


def make_tree(root: Path) -> None:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "core.py").write_text("def run():\n    return 1\n")
    (root / "web").mkdir()
    (root / "web" / "app.ts").write_text("export function main(): void {}\n")
    (root / "README.md").write_text("# Demo\n")
    for vendored in ("node_modules/left-pad", ".git", ".venv/lib", "dist", "build"):
        (root / vendored).mkdir(parents=True)
        (root / vendored / "index.js").write_text("function vendored() {}\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "data.dat").write_bytes(b"abc\0def")
    (root / "huge.txt").write_text("x" * (MAX_FILE_BYTES + 1))


def test_scan_lists_text_files_with_symbols_and_skips_the_rest(tmp_path: Path) -> None:
    make_tree(tmp_path)
    repo_map = scan(tmp_path, COMMIT)
    assert repo_map.paths() == ["README.md", "src/pkg/core.py", "web/app.ts"]
    core = repo_map.entry("src/pkg/core.py")
    assert core is not None and core.language == "python"
    assert [(s.kind, s.name) for s in core.symbols] == [("function", "run")]
    app = repo_map.entry("web/app.ts")
    assert app is not None and [s.name for s in app.symbols] == ["main"]


def test_scan_never_follows_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("def leaked_secret():\n    pass\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "main.py").write_text("def main():\n    pass\n")
    os.symlink(outside / "secret.py", repo / "link.py")
    os.symlink(outside, repo / "linked_dir")
    repo_map = scan(repo, COMMIT)
    assert repo_map.paths() == ["main.py"]


def test_symbols_survive_encoding_and_are_decoded_on_first_use(tmp_path: Path) -> None:
    make_tree(tmp_path)
    core = scan(tmp_path, COMMIT).entry("src/pkg/core.py")
    assert core is not None
    encoded = encode_symbols(core.symbols)
    assert decode_symbols(encoded) == core.symbols
    lazy = FileEntry("src/pkg/core.py", "python", encoded=encoded)
    assert lazy.names() == ["run"] and lazy == core
    assert FileEntry("empty.py", "python", encoded="").symbols == ()


def test_render_puts_relevant_files_first_and_stays_within_budget(tmp_path: Path) -> None:
    for i in range(30):
        body = "".join(f"def f{i}_{j}():\n    pass\n" for j in range(5))
        (tmp_path / f"mod{i:02}.py").write_text(body)
    repo_map = scan(tmp_path, COMMIT)

    full = repo_map.render(10_000, words)
    assert "mod00.py\n  function f0_0 1-2" in full
    assert "more files" not in full

    small = repo_map.render(60, words, first=["mod17.py", "missing.py"])
    assert words(small) <= 60
    assert small.startswith("mod17.py\n  function f17_0 1-2")
    assert small.endswith("more files not shown")
