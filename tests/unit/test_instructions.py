"""Repository instructions: the nearest AGENTS.md wins for a path; CONTRIBUTING and README
join the root one for the task, within a character budget."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.agent.instructions import MIN_SECTION_CHARS, RepoInstructions


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "services" / "billing" / "api").mkdir(parents=True)
    (root / "services" / "search").mkdir(parents=True)
    (root / "web").mkdir()
    (root / ".github").mkdir()
    (root / "AGENTS.md").write_text("Root: run `make test` before finishing.\n")
    (root / "services" / "AGENTS.md").write_text("Services: never edit generated protos.\n")
    (root / "services" / "billing" / "AGENTS.md").write_text("Billing: amounts are cents.\n")
    (root / "services" / "billing" / "api" / "handlers.py").write_text("def pay(): ...\n")
    (root / ".github" / "CONTRIBUTING.md").write_text("Contributing: sign your commits.\n")
    (root / "README.md").write_text("# Shop\nA shop.\n")
    return root


def test_the_nearest_agents_md_wins(repo: Path) -> None:
    found = RepoInstructions.discover(repo)
    assert found.agents_for("services/billing/api/handlers.py").startswith("Billing:")
    assert found.agents_for("services/billing/AGENTS.md").startswith("Billing:")
    assert found.agents_for("services/search/index.py").startswith("Services:")
    assert found.agents_for("services/billing").startswith("Billing:")
    assert found.agents_for("web/app.ts").startswith("Root:")
    assert found.agents_for("setup.py").startswith("Root:")
    assert (
        found.agents_file_for("./services/search/../billing/x.py") == "services/billing/AGENTS.md"
    )


def test_without_a_root_agents_md_paths_outside_nested_ones_get_nothing(repo: Path) -> None:
    (repo / "AGENTS.md").unlink()
    found = RepoInstructions.discover(repo)
    assert found.agents_for("web/app.ts") == ""
    assert found.agents_file_for("web/app.ts") is None
    assert found.agents_for("services/x.py").startswith("Services:")


def test_discover_uses_a_given_file_list_instead_of_walking(repo: Path) -> None:
    found = RepoInstructions.discover(repo, ["AGENTS.md", "services/billing/AGENTS.md"])
    assert found.agents_for("services/search/index.py").startswith("Root:")
    assert found.agents_for("services/billing/api/handlers.py").startswith("Billing:")


def test_for_task_orders_root_nested_contributing_readme(repo: Path) -> None:
    text = RepoInstructions.discover(repo).for_task(
        paths=["services/billing/api/handlers.py", "services/billing/models.py", "web/a.ts"]
    )
    titles = [line for line in text.splitlines() if line.startswith("### ")]
    assert titles == [
        "### AGENTS.md",
        "### services/billing/AGENTS.md (applies to files under services/billing/)",
        "### .github/CONTRIBUTING.md",
        "### README.md",
    ]
    assert "Root: run `make test`" in text and "Billing: amounts are cents." in text
    assert "Services:" not in text  # no given path is governed by services/AGENTS.md


def test_for_task_keeps_within_the_budget_and_says_what_was_cut(repo: Path) -> None:
    (repo / "README.md").write_text("# Shop\n" + "Lorem ipsum dolor sit amet. " * 400)
    budget = 1000
    text = RepoInstructions.discover(repo).for_task(budget_chars=budget)
    assert len(text) <= budget
    assert "### README.md" in text
    assert "[... cut: " in text and "read README.md for the rest]" in text

    tiny = RepoInstructions.discover(repo).for_task(budget_chars=MIN_SECTION_CHARS)
    assert len(tiny) <= MIN_SECTION_CHARS
    assert "README" not in tiny  # too little room left for a useful excerpt


def test_symlinked_instruction_files_are_not_read(tmp_path: Path, repo: Path) -> None:
    secret = tmp_path / "master.key"
    secret.write_text("TOP-SECRET-KEY")
    (repo / "AGENTS.md").unlink()
    os.symlink(secret, repo / "AGENTS.md")
    (repo / "README.md").unlink()
    os.symlink(secret, repo / "README.md")
    found = RepoInstructions.discover(repo)
    assert found.agents_for("web/app.ts") == ""
    assert "TOP-SECRET-KEY" not in found.for_task(paths=["web/app.ts"])


def test_nothing_to_say(tmp_path: Path) -> None:
    assert RepoInstructions.discover(tmp_path).for_task() == (
        "(none: no AGENTS.md, CONTRIBUTING or README)"
    )
