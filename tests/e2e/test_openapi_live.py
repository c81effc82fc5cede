"""schemathesis against a live `errand up`, driven by the server's own OpenAPI description:
no 5xx and no response that violates the description, over a few hundred generated cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live_server import live_server, log_text

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 15  # per operation and phase: ~450 cases in all
# the brief: no server error, nothing the description does not promise; plus the checks on
# auth and methods. Left out: positive_data_acceptance / negative_data_rejection (the branch
# rules of git, for one, are not a JSON Schema pattern)
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "missing_required_header",
    "unsupported_method",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
]


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"ERRAND_WORKSPACE_BACKEND": "none", "ERRAND_MODEL": "openai/fake"}
    with live_server(home, env) as srv:
        report = tmp_path / "report.json"
        proc = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{srv.url}/api/openapi.json",
                "--header",
                f"Authorization: Bearer {srv.token}",
                "--checks",
                ",".join(CHECKS),
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                "20261202",
                "--workers",
                "2",
                "--request-timeout",
                "10",
                "--report",
                "json",
                "--report-json-path",
                str(report),
            ],
            cwd=tmp_path,  # where hypothesis and schemathesis keep their caches
            capture_output=True,
            text=True,
            timeout=240,
        )
        log = log_text(srv)
    result = json.loads(report.read_text())
    cases = result["test_cases"]
    print(f"schemathesis: {cases['generated']} cases, {cases['with_failures']} with failures")
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert result["failures"] == [] and result["errors"] == []
    assert cases["generated"] >= 200, cases
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
