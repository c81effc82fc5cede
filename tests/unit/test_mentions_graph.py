"""Stack traces, path and module mentions resolved against a checkout, tests mapped to their
sources, and the import and call graph around what a task names."""

from __future__ import annotations

from jobs.agent.graph import ImportGraph, calls_in, imports_of
from jobs.agent.mentions import Frame, Mentions, Resolver, frames
from jobs.agent.ranking import Index
from jobs.agent.repomap import FileEntry, RepoMap, extract_symbols

PY_TRACE = """Traceback (most recent call last):
  File "/srv/app/main.py", line 4, in <module>
    run()
  File "/usr/lib/python3.11/site-packages/shop/cart.py", line 20, in total
    return price(item)
  File "/usr/lib/python3.11/site-packages/shop/pricing.py", line 7, in price
    raise ValueError(item)
ValueError: x
"""
JS_TRACE = """TypeError: Invalid Version: 1.2
    at new SemVer (/app/node_modules/semver/classes/semver.js:38:13)
    at compare (/app/node_modules/semver/functions/compare.js:3:3)
"""
PATHS = [
    "src/shop/__init__.py",
    "src/shop/cart.py",
    "src/shop/pricing.py",
    "src/shop/utils.py",
    "tests/test_pricing.py",
    "docs/utils.py",
    "web/lib/utils.ts",
    "web/lib/format.ts",
]


def test_frames_come_innermost_first_for_python_and_javascript() -> None:
    assert [f.function for f in frames(PY_TRACE)] == ["price", "total", "<module>"]
    assert frames(JS_TRACE) == [
        Frame("/app/node_modules/semver/classes/semver.js", 38, "SemVer"),
        Frame("/app/node_modules/semver/functions/compare.js", 3, "compare"),
    ]
    assert frames("at pkg.Cart.total(Cart.java:12)")[0] == Frame("Cart.java", 12, "total")
    assert frames("no trace here, just words: see page 3") == []


def test_mentions_take_frame_functions_as_identifiers() -> None:
    mentions = Mentions.of(PY_TRACE)
    assert {"price", "total"} <= mentions.identifiers
    assert mentions.frames[0].path.endswith("shop/pricing.py")


def test_resolver_matches_by_the_longest_shared_tail() -> None:
    resolver = Resolver(PATHS)
    assert resolver.path("/usr/lib/python3.11/site-packages/shop/pricing.py") == [
        "src/shop/pricing.py"
    ]
    assert resolver.path("shop/utils.py") == ["src/shop/utils.py"]
    assert resolver.path("nothing/here.py") == []
    assert resolver.module("shop/cart") == ["src/shop/cart.py"]
    assert resolver.module("shop") == []  # one component is too weak to mean a file
    assert resolver.sources_for_test("tests/test_pricing.py") == ["src/shop/pricing.py"]
    assert resolver.sources_for_test("src/shop/cart.py") == []


def test_imports_are_read_and_resolved_both_ways() -> None:
    cart = "from .pricing import price\nfrom shop import utils\nimport os, json\n"
    assert imports_of(cart, "python") == (
        ".pricing",
        ".pricing.price",
        "shop",
        "shop.utils",
        "os",
        "json",
    )
    ts = "import { a } from './format'\nconst x = require('lodash')\n"
    assert imports_of(ts, "typescript") == ("./format",)
    graph = ImportGraph(
        Resolver(PATHS),
        {"src/shop/cart.py": imports_of(cart, "python"), "web/lib/utils.ts": ("./format",)},
    )
    assert graph.neighbours["src/shop/cart.py"] == {"src/shop/pricing.py", "src/shop/utils.py"}
    assert graph.neighbours["src/shop/pricing.py"] == {"src/shop/cart.py"}
    assert graph.neighbours["web/lib/format.ts"] == {"web/lib/utils.ts"}


def test_calls_inside_a_span() -> None:
    text = "def a():\n    b()\n    c(1)\n\ndef d():\n    e()\n"
    assert calls_in(text, 1, 3) == {"a", "b", "c"}


def _index(contents: dict[str, str]) -> Index:
    files = tuple(
        FileEntry(
            path=p,
            language="python" if p.endswith(".py") else "",
            symbols=extract_symbols(t, "python") if p.endswith(".py") else (),
        )
        for p, t in contents.items()
    )
    return Index(RepoMap(commit="a" * 40, files=files), contents)


def test_the_innermost_frame_in_the_checkout_ranks_first() -> None:
    contents = {
        "src/shop/cart.py": (
            "from .pricing import price\n\ndef total(items):\n"
            "    return sum(price(i) for i in items)\n"
        ),
        "src/shop/pricing.py": "def price(item):\n    return item.cost\n",
        "src/shop/report.py": "def report(total, price):\n    return f'{total} {price}'\n",
    }
    ranked = [p for p, _ in _index(contents).rank(PY_TRACE)]
    assert ranked[:2] == ["src/shop/pricing.py", "src/shop/cart.py"]


def test_a_named_test_file_lifts_its_source_and_a_named_symbol_lifts_what_it_calls() -> None:
    contents = {
        "src/shop/pricing.py": "def price(item):\n    return discount(item.cost)\n",
        "src/shop/discounts.py": "def discount(cost):\n    return cost\n",
        "src/shop/other.py": "def unrelated():\n    return 'cost of an item'\n",
        "tests/test_pricing.py": "def test_price():\n    assert True\n",
    }
    index = _index(contents)
    boosts = index.boosts(Mentions.of("tests/test_pricing.py fails; `price` is wrong"))
    assert boosts["src/shop/pricing.py"] > boosts.get("src/shop/other.py", 0.0)
    assert boosts["src/shop/discounts.py"] > 0  # called inside the named `price`
