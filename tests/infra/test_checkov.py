"""checkov over terraform/ with no failed high-severity check.

Without a Prisma Cloud API key checkov reports no severities, so the checks treated as high
severity are named here: anything that would make data or an endpoint public, drop
encryption or its key management, or hand out broad IAM. A suppression is only allowed in the
code, as `#checkov:skip=CKV_...:<reason>`, and every one must carry its reason."""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from typing import Any

import pytest

from tests.infra.hcl import ROOT, TERRAFORM, tf_files

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"

HIGH = {
    # public data or endpoints
    "CKV_GCP_28": "Cloud Storage bucket anonymously or publicly accessible",
    "CKV_GCP_114": "public access prevention not enforced on a bucket",
    "CKV_GCP_101": "Artifact Registry repository publicly accessible",
    "CKV_GCP_102": "Cloud Run service publicly invocable",
    "CKV_GCP_112": "KMS policy allows public access",
    "CKV2_GCP_8": "KMS key ring publicly accessible",
    # uniform access, encryption, keys
    "CKV_GCP_29": "uniform bucket-level access disabled",
    "CKV_GCP_43": "KMS key not rotated within 90 days",
    "CKV_GCP_82": "KMS key not protected from deletion",
    "CKV_GCP_4": "SSL policy permits weak cipher suites",
    "CKV2_GCP_38": "forwarding rule serving plain HTTP proxies to the backends",
    # IAM
    "CKV_GCP_41": "Service Account User / Token Creator granted at project level",
    "CKV_GCP_42": "service account with admin privileges",
    "CKV_GCP_46": "default service account used at project level",
    "CKV_GCP_49": "roles that impersonate or manage service accounts at project level",
    "CKV_GCP_117": "basic roles (owner/editor/viewer) at project level",
    # attacks on the public endpoint
    "CKV_GCP_73": "Cloud Armor without the Log4j lookup rule",
}

# checks that must have evaluated something, or the scan proved nothing
OFFLINE_JSON = ("--skip-download", "--output", "json")
MUST_RUN = {"CKV_GCP_28", "CKV_GCP_29", "CKV_GCP_114", "CKV_GCP_41", "CKV_GCP_117", "CKV_GCP_43"}


@cache
def scan() -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run scripts/setup.sh (scripts/setup.d/60-infra.sh)")
    done = subprocess.run(
        [str(CHECKOV), "-d", str(TERRAFORM), "--framework", "terraform", *OFFLINE_JSON],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        # no Prisma key, no telemetry, no network: the scan is offline
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(ROOT / ".venv-checkov")}
        | {"CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "BC_SKIP_MAPPING": "TRUE"},
    )
    # 0: no failure; 1: some failed checks (we judge which below); anything else: broken run
    assert done.returncode in (0, 1), f"checkov failed to run:\n{done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    results: dict[str, Any] = (report[0] if isinstance(report, list) else report)["results"]
    return results


def test_no_high_severity_check_fails() -> None:
    failed = [
        f"{c['check_id']} ({HIGH[c['check_id']]}) on {c['resource']} in {c['file_path']}"
        for c in scan()["failed_checks"]
        if c["check_id"] in HIGH
    ]
    assert not failed, "high-severity checkov failures:\n" + "\n".join(failed)


def test_the_high_severity_checks_ran() -> None:
    ran = {c["check_id"] for kind in ("passed_checks", "failed_checks") for c in scan()[kind]}
    assert ran >= MUST_RUN, f"checkov did not evaluate {sorted(MUST_RUN - ran)}"


def test_every_suppression_gives_its_reason() -> None:
    pattern = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")
    found = 0
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = pattern.search(line)
            if match:
                found += 1
                reason = (match.group(2) or "").strip()
                assert len(reason) >= 30, f"{path.name}:{number}: {match.group(1)} needs a reason"
    skipped = scan()["skipped_checks"]
    assert len(skipped) == found, "every skip checkov honoured is one of the commented ones"
    for check in skipped:
        assert check["check_result"]["suppress_comment"].strip(), check["check_id"]
