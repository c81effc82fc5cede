"""Conventional Commit messages, tested on strings."""

from __future__ import annotations

import pytest

from shared.conventional import MAX_HEADER, commit_message, infer_type, wrap
from shared.errors import InvalidInput


@pytest.mark.parametrize(
    ("prompt", "header"),
    [
        ("Fix the failing add test", "fix: failing add test"),
        ("fix add", "fix: fix add"),
        ("Add tests for the parser", "test: add tests for the parser"),
        ("Add a --verbose flag to the CLI", "feat: add a --verbose flag to the CLI"),
        (
            "Please update the README with install steps.",
            "docs: update the README with install steps",
        ),
        ("Refactor the parser into smaller modules", "refactor: parser into smaller modules"),
        (
            "Bump requests to 2.32 in requirements.txt",
            "chore: bump requests to 2.32 in requirements.txt",
        ),
        ("Implement retry on network error", "feat: implement retry on network error"),
        ("Can you fix typo in README?", "fix: typo in README"),
        ("Make the greeting friendlier", "chore: make the greeting friendlier"),
        ("JSONDecoder crashes on empty input", "fix: JSONDecoder crashes on empty input"),
        ("- Document the `--port` option!", "docs: `--port` option"),
    ],
)
def test_headers(prompt: str, header: str) -> None:
    assert commit_message(prompt, "") == header


def test_plan_summary_becomes_the_wrapped_body() -> None:
    summary = (
        "Make add() return the sum. It subtracted its arguments, so test_add failed; the other "
        "tests keep passing.\n\n- change calc.py\n- run the whole test suite again and check "
        "that every test passes"
    )
    assert commit_message("Fix the failing add test", summary) == (
        "fix: failing add test\n"
        "\n"
        "Make add() return the sum. It subtracted its arguments, so test_add\n"
        "failed; the other tests keep passing.\n"
        "\n"
        "- change calc.py\n"
        "- run the whole test suite again and check that every test passes"
    )


def test_long_prompts_are_cut_at_a_word_and_kept_whole_in_the_body() -> None:
    prompt = (
        "The add function returns the wrong result when it is given negative numbers, which "
        "breaks the invoice totals"
    )
    message = commit_message(prompt, "")
    header, blank, *body = message.split("\n")
    assert header == "fix: the add function returns the wrong result when it is given negative"
    assert len(header) <= MAX_HEADER and blank == ""
    assert " ".join(body) == prompt
    assert all(len(line) <= 72 for line in body)


def test_multi_sentence_prompts_keep_the_rest_in_the_body() -> None:
    message = commit_message("Rename util.py to helpers.py. Update every import.", "")
    assert message == (
        "refactor: rename util.py to helpers.py\n\n"
        "Rename util.py to helpers.py. Update every import."
    )


def test_headers_never_end_with_a_period_or_exceed_the_limit() -> None:
    for prompt in ("Fix it.", "x" * 200, "Add " + "word " * 40, "a.b.c."):
        header = commit_message(prompt, "").split("\n")[0]
        assert len(header) <= MAX_HEADER and not header.endswith(".")
        assert header.split(":")[0] in {"fix", "feat", "docs", "test", "refactor", "chore"}


def test_kind_hint_wins_and_must_be_known() -> None:
    assert commit_message("Fix the parser", "", kind_hint="Refactor") == "refactor: fix the parser"
    with pytest.raises(InvalidInput, match="unknown commit type 'perf'"):
        commit_message("Speed it up", "", kind_hint="perf")


def test_empty_input_is_refused_and_plan_summary_stands_in_for_a_missing_prompt() -> None:
    with pytest.raises(InvalidInput, match="both empty"):
        commit_message("  ", "")
    assert commit_message("", "Fix the crash in parse().") == (
        "fix: crash in parse()\n\nFix the crash in parse()."
    )


def test_infer_type_scores_the_first_word_higher() -> None:
    assert infer_type("Fix the docs build") == "fix"
    assert infer_type("Docs: explain how to fix a failing build") == "docs"
    assert infer_type("") == "chore"


def test_wrap_keeps_urls_and_list_items_whole() -> None:
    url = "https://example.com/" + "a" * 80
    assert wrap(f"See {url} for details") == f"See\n{url}\nfor details"
    assert wrap("1. first item that is long enough to need wrapping across more than one line") == (
        "1. first item that is long enough to need wrapping across more than one\n   line"
    )
