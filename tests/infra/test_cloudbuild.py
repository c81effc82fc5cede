"""cloudbuild.yaml read as data: the steps run in the promised order, every substitution it
uses is defined or built in, and what it deploys is what terraform/ declares."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.infra.hcl import ROOT, config

BUILT_IN = {"PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION", "SHORT_SHA", "COMMIT_SHA"}


def _build() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    return loaded


def _after(steps: dict[str, dict[str, Any]], step: str) -> set[str]:
    """Every step that must finish before `step` starts (transitively)."""
    seen: set[str] = set()
    todo = list(steps[step].get("waitFor", []))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(steps[name].get("waitFor", []))
    return seen


def test_steps_run_in_order() -> None:
    steps = {s["id"]: s for s in _build()["steps"]}
    assert "waitFor" not in steps["test"], "the tests start first"
    for step in steps:
        if step != "test":
            assert "test" in _after(steps, step), f"{step} must wait for the tests"
    assert {"push-job", "push-functions"} <= _after(steps, "deploy-functions")
    assert "deploy-functions" in _after(steps, "update-job")
    assert {"build-web", "update-job"} <= _after(steps, "deploy-web")


def test_substitutions_are_defined_and_shell_variables_escaped() -> None:
    text = (ROOT / "cloudbuild.yaml").read_text()
    defined = set(_build()["substitutions"])
    body = re.sub(r"\$\$", "", text)  # $$ is a literal $ for the shell
    for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", body):
        assert name in defined or name in BUILT_IN, f"${name} is neither defined nor built in"


def test_it_deploys_what_terraform_declares() -> None:
    text = (ROOT / "cloudbuild.yaml").read_text()
    services = set(config().locals["services"])
    loop = re.search(r"for service in ([a-z ]+); do", text)
    assert loop is not None and set(loop.group(1).split()) == services
    assert config().locals["job_name"] == "${local.name}-job"
    assert "${_PREFIX}-job" in text
    for dockerfile in re.findall(r"- -f\n\s+- (\S+)", text):
        assert (ROOT / dockerfile).is_file(), dockerfile
    assert config().resource("google_storage_bucket", "web")["name"] == (
        "${var.project_id}-${local.name}-web"
    )
    assert "gs://$PROJECT_ID-${_PREFIX}-web" in text


def test_functions_image_serves_the_target_terraform_names() -> None:
    dockerfile = (ROOT / "deploy" / "functions.Dockerfile").read_text()
    assert '--target=\\"$FUNCTION_TARGET\\"' in dockerfile
    assert "USER 65532" in dockerfile
    main = (ROOT / "functions" / "main.py").read_text()
    for target in ("api", "dispatch"):
        assert re.search(rf"^def {target}\(", main, re.M), f"functions/main.py has no {target}"
