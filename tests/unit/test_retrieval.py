"""Retrieval on strings: tokenising identifiers, BM25 ordering, boosts for what the task names,
packing into a token budget; and the assembled context on a small tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.agent.context_builder import FILES_HEADER, MAP_HEADER, build_context
from jobs.agent.repomap import FileEntry, RepoMap, extract_symbols
from jobs.agent.retrieval import (
    BM25,
    Mentions,
    litellm_token_counter,
    pack,
    rank,
    split_identifier,
    tokenize,
)

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


def words(text: str) -> int:
    return len(text.split())


def make_map(contents: dict[str, str]) -> RepoMap:
    files = []
    for path, text in contents.items():
        language = "python" if path.endswith(".py") else ""
        symbols = extract_symbols(text, language) if language else ()
        files.append(FileEntry(path=path, language=language, symbols=symbols))
    return RepoMap(commit=COMMIT, files=tuple(files))


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("HTTPDigestAuth", ["http", "digest", "auth"]),
        ("should_strip_auth", ["should", "strip", "auth"]),
        ("getRedirectTarget", ["get", "redirect", "target"]),
        ("__init__", ["init"]),
        ("parse2Version", ["parse", "2", "version"]),
    ],
)
def test_split_identifier(word: str, parts: list[str]) -> None:
    assert split_identifier(word) == parts


def test_tokenize_keeps_compounds_whole_drops_stopwords_and_plurals() -> None:
    assert tokenize("The sessions should_strip_auth of HTTPDigestAuth") == [
        "session",
        "should_strip_auth",
        "strip",
        "auth",
        "httpdigestauth",
        "http",
        "digest",
        "auth",
    ]


def test_bm25_prefers_rare_terms_and_shorter_documents() -> None:
    docs = {
        "rare": ["proxy", "cookie"],
        "common": ["cookie", "cookie"],
        "long": ("proxy " + "filler " * 40).split(),
        "none": ["unrelated", "words"],
        "common2": ["cookie", "jar"],
    }
    scores = BM25(docs).scores(["proxy", "cookie"])
    assert "none" not in scores
    assert scores["rare"] > scores["long"]  # same proxy match, shorter document
    assert scores["rare"] > scores["common"]  # proxy (in 2 docs) beats a second cookie
    assert scores["long"] > 0


def test_bm25_of_no_documents_scores_nothing() -> None:
    assert BM25({}).scores(["x"]) == {}


def test_mentions_pick_code_like_names_paths_and_modules() -> None:
    found = Mentions.of(
        "Calling `resolve()` in src/app/cache.py raises from app.models.User when "
        "load_config(path) gets a CamelCase value. Plain words like Session stay prose; "
        "see ./docs/setup.md, e.g. on a Mac."
    )
    assert {"resolve", "load_config", "CamelCase", "User"} <= found.identifiers
    assert "Session" not in found.identifiers and "Plain" not in found.identifiers
    assert {"src/app/cache.py", "docs/setup.md"} <= found.paths
    assert {"app/models", "app/models/User"} <= found.modules


CONTENTS = {
    "src/shop/cart.py": (
        "class Cart:\n"
        "    def add(self, item, quantity):\n"
        "        self.items.append((item, quantity))\n"
        "\n"
        "    def total(self):\n"
        "        return sum(price * quantity for price, quantity in self.items)\n"
    ),
    "src/shop/payment.py": (
        "def charge(card, amount):\n"
        "    # the payment gateway wants cents\n"
        "    return gateway.charge(card, amount)\n"
        "\n"
        "def refund(charge_id):\n"
        "    return gateway.refund(charge_id)\n"
    ),
    "src/shop/shipping.py": "def ship(order):\n    return label(order.address)\n",
    "tests/test_cart.py": (
        "def test_total_quantity():\n    cart = Cart()\n    cart.add('a', 2)\n"
        "    assert cart.total() == cart.total()  # total quantity of the cart\n"
    ),
    "README.md": "# Shop\nA small shop with a cart and payments.\n",
}


def test_rank_orders_by_relevance() -> None:
    ranked = rank("Cart total ignores the quantity", make_map(CONTENTS), CONTENTS)
    assert ranked[0][0] == "src/shop/cart.py"
    assert [p for p, _ in ranked].index("tests/test_cart.py") > 0
    assert all(score > 0 for _, score in ranked)
    assert "src/shop/shipping.py" not in dict(ranked)


def test_tests_are_not_down_weighted_when_the_task_is_about_tests() -> None:
    ranked = rank("Add a test for cart total quantity", make_map(CONTENTS), CONTENTS)
    assert ranked[0][0] == "tests/test_cart.py"


def test_a_path_named_in_the_task_goes_first() -> None:
    task = "Cart total ignores quantity; the fix probably belongs in shipping.py"
    assert rank(task, make_map(CONTENTS), CONTENTS)[0][0] == "src/shop/shipping.py"


def test_a_symbol_named_in_the_task_is_boosted() -> None:
    repo_map = make_map(CONTENTS)
    plain = dict(rank("the cart total is wrong after a refund", repo_map, CONTENTS))
    named = dict(rank("the cart total is wrong after `refund()`", repo_map, CONTENTS))
    assert named["src/shop/payment.py"] > plain["src/shop/payment.py"]
    assert named["src/shop/cart.py"] == pytest.approx(plain["src/shop/cart.py"])


def test_a_dotted_module_in_the_task_is_boosted() -> None:
    task = "total is wrong: shop.shipping.label rounds the weight"
    assert rank(task, make_map(CONTENTS), CONTENTS)[0][0] == "src/shop/shipping.py"


def big_module() -> str:
    parts = [f"def helper_{i}(value):\n" + "    value = value + 1\n" * 30 for i in range(20)]
    parts.insert(7, "def refund_charge(charge_id):\n    return gateway.refund(charge_id)\n")
    return "\n\n".join(parts)


def test_pack_keeps_to_the_budget_and_excerpts_large_files() -> None:
    contents = dict(CONTENTS, **{"src/shop/big.py": big_module()})
    repo_map = make_map(contents)
    task = "refund of a charge fails"
    ranked = [("src/shop/big.py", 5.0), ("src/shop/payment.py", 4.0), ("README.md", 1.0)]
    for budget in (40, 120, 400):
        text = pack(ranked, budget, words, contents=contents, repo_map=repo_map, task_text=task)
        assert words(text) <= budget
    text = pack(ranked, 400, words, contents=contents, repo_map=repo_map, task_text=task)
    assert "### src/shop/big.py (excerpts; " in text
    assert "def refund_charge(charge_id):" in text and "def helper_3(" not in text
    assert "### src/shop/payment.py (whole file)" in text
    assert text.index("big.py") < text.index("payment.py")


def test_pack_skips_a_file_too_big_for_what_is_left() -> None:
    contents = {"huge.txt": "refund " * 500, "small.py": "def refund():\n    pass\n"}
    ranked = [("huge.txt", 2.0), ("small.py", 1.0)]
    text = pack(ranked, 50, words, contents=contents, task_text="refund")
    assert "### small.py (whole file)" in text
    assert "huge.txt" not in text


def test_pack_fences_files_that_contain_fences() -> None:
    contents = {"doc.md": "Example:\n```\ncode\n```\n"}
    text = pack([("doc.md", 1.0)], 100, words, contents=contents)
    assert "````\nExample:\n```\ncode\n```\n````" in text


def test_litellm_counter_counts_real_tokens() -> None:
    count = litellm_token_counter("gpt-4o")
    assert 0 < count("def add(a, b):\n    return a + b\n") < 20
    assert count("word " * 100) > count("word " * 10)


def test_build_context_within_budget_with_map_files_and_nested_agents(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for path, text in CONTENTS.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    (repo / "src" / "shop" / "AGENTS.md").write_text("Money is always in cents.\n")
    (repo / "AGENTS.md").write_text("Run make test.\n")
    for budget in (60, 300, 2000):
        text = build_context(repo, COMMIT, "refund charge", None, budget, words)
        assert words(text) <= budget
    text = build_context(repo, COMMIT, "refund charge", None, 2000, words)
    assert text.startswith(MAP_HEADER + "\nsrc/shop/payment.py\n  function charge 1-3")
    assert "### src/shop/AGENTS.md (applies to files under src/shop/)" in text
    assert "Money is always in cents." in text and "Run make test." not in text
    assert f"{FILES_HEADER}\n### src/shop/payment.py (whole file)" in text
