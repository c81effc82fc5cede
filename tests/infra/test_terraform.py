"""Offline checks of terraform/: it parses, it is formatted, and it keeps the promises the
deployment guide makes (least privilege, private buckets, who may call what). No provider,
no cloud: terraform cannot download providers here, so `init`/`validate` are not run."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from tests.infra.hcl import TERRAFORM, block, config, parse, tf_files


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: p.name)
def test_every_tf_file_parses(path: Any) -> None:
    assert parse(path), f"{path} parsed to nothing"


def test_terraform_fmt() -> None:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform is not installed on this machine: fmt -check not run")
    done = subprocess.run(
        [binary, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1"},
    )
    assert done.returncode == 0, f"run `terraform fmt -recursive terraform`:\n{done.stdout}"


def test_variables_are_documented_and_typed() -> None:
    variables = config().variables
    assert variables
    for name, body in variables.items():
        assert len(str(body.get("description", ""))) > 15, f"variable {name} needs a description"
        assert "type" in body, f"variable {name} needs a type"


def test_example_tfvars_sets_only_declared_variables() -> None:
    example = parse(TERRAFORM / "terraform.tfvars.example")
    variables = config().variables
    unknown = sorted(set(example) - set(variables))
    assert not unknown, f"terraform.tfvars.example sets undeclared variables {unknown}"
    required = {n for n, body in variables.items() if "default" not in body}
    assert required <= set(example), f"the example must set {sorted(required - set(example))}"


# ---------------------------------------------------------------------------- secrets


def _secret_readers() -> dict[str, list[str]]:
    return {name: s["readers"] for name, s in config().locals["app_secrets"].items()}


def test_the_job_cannot_read_github_secrets() -> None:
    readers = _secret_readers()
    github = [name for name in readers if name.startswith("github-")]
    assert {"github-private-key", "github-webhook-secret", "github-client-secret"} <= set(github)
    for name in github:
        assert readers[name] == ["fn"], f"{name} is readable by {readers[name]}"
    # The one accessor binding grants exactly these pairs, on each secret, to the named account.
    grants = config().of_kind("google_secret_manager_secret_iam_member")
    assert list(grants) == ["readers"]
    assert grants["readers"]["for_each"] == "${local.secret_grants}"
    assert grants["readers"]["role"] == "roles/secretmanager.secretAccessor"
    assert config().locals["secret_readers"] == {
        "fn": "${google_service_account.fn.member}",
        "job": "${google_service_account.job.member}",
    }


def test_the_job_environment_takes_only_secrets_it_may_read() -> None:
    job = config().resource("google_cloud_run_v2_job", "stage")
    container = block(block(block(job, "template"), "template"), "containers")
    secret_env = [e for e in container["dynamic"] if "env" in e]
    loops = [e["env"]["for_each"] for e in secret_env]
    assert '${{for k, s in local.app_secrets : k => s if contains(s.readers, "job")}}' in loops, (
        loops
    )


def test_the_job_takes_github_tokens_from_the_broker_of_the_api() -> None:
    """The job cannot read the App key, so its tokens come from the api's broker: the job runs
    in broker mode, both sides agree on the broker's URL (the audience of the job's identity
    token), the api admits exactly the job's account, and the broker's path reaches the api."""
    common = config().locals["common_env"]
    assert common["ERRAND_GITHUB_TOKEN_BROKER_URL"] == "${local.public_url}/api/github/token"
    assert "ERRAND_GITHUB_TOKENS" not in common  # the functions sign with the key
    assert config().locals["job_env"] == (
        '${merge(local.common_env, {ERRAND_GITHUB_TOKENS = "broker"})}'
    )
    job = config().resource("google_cloud_run_v2_job", "stage")
    container = block(block(block(job, "template"), "template"), "containers")
    loops = [e["env"]["for_each"] for e in container["dynamic"] if "env" in e]
    assert "${local.job_env}" in loops
    services = config().locals["services"]
    assert services["api"]["extra_env"] == {
        "ERRAND_JOB_SERVICE_ACCOUNT": "${google_service_account.job.email}"
    }
    for other in ("webhooks", "dispatch"):
        assert "ERRAND_JOB_SERVICE_ACCOUNT" not in services[other]["extra_env"]
    url_map = config().resource("google_compute_url_map", "web")
    rules = block(url_map, "path_matcher")["path_rule"]
    api = [r for r in rules if "/api/*" in r["paths"]]
    assert api and api[0]["service"] == '${google_compute_backend_service.fn["api"].id}'


def test_no_secret_values_and_no_project_wide_secret_access() -> None:
    assert not config().of_kind("google_secret_manager_secret_version"), "no values in terraform"
    for kind in ("google_project_iam_member", "google_project_iam_binding"):
        for name, body in config().of_kind(kind).items():
            assert "secretmanager" not in str(body.get("role", "")), f"{kind}.{name}"
    text = "\n".join(p.read_text() for p in tf_files())
    assert not re.search(r"BEGIN [A-Z ]*PRIVATE KEY", text)


# ---------------------------------------------------------------------------- invokers


def test_only_the_queue_and_scheduler_accounts_invoke_dispatch() -> None:
    invokers = config().locals["invokers"]
    dispatch = sorted(i["member"] for i in invokers.values() if i["service"] == "dispatch")
    assert dispatch == [
        "${google_service_account.sched.member}",
        "${google_service_account.tasks.member}",
    ]
    public = sorted(i["service"] for i in invokers.values() if i["member"] == "allUsers")
    assert public == ["api", "webhooks"]
    # every run.invoker grant goes through that map
    grants = config().of_kind("google_cloud_run_v2_service_iam_member")
    invoker_grants = {name for name, g in grants.items() if g["role"] == "roles/run.invoker"}
    assert invoker_grants == {"invokers"}
    assert grants["invokers"]["for_each"] == "${local.invokers}"
    assert not config().of_kind("google_cloud_run_v2_service_iam_binding")
    assert not config().of_kind("google_cloud_run_v2_service_iam_policy")


def test_public_services_are_reachable_only_through_the_load_balancer() -> None:
    services = config().locals["services"]
    assert services["api"]["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert services["webhooks"]["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert services["dispatch"]["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    negs = config().resource("google_compute_region_network_endpoint_group", "fn")
    assert negs["for_each"] == '${toset(["api", "webhooks"])}', "dispatch must not be routable"


def test_scheduler_calls_sweep_as_its_own_account_every_minute() -> None:
    sweep = config().resource("google_cloud_scheduler_job", "sweep")
    assert sweep["schedule"] == "* * * * *"
    target = block(sweep, "http_target")
    assert target["uri"] == "${local.sweep_url}" and target["http_method"] == "POST"
    token = block(target, "oidc_token")
    assert token["service_account_email"] == "${google_service_account.sched.email}"
    assert config().locals["sweep_url"].endswith("/api/sweep")
    # dispatch checks the scheduler's token against exactly this account and audience
    assert token["audience"] == "${local.sweep_url}"
    sweep_env = config().locals["services"]["dispatch"]["extra_env"]
    assert sweep_env["ERRAND_SWEEP_URL"] == token["audience"]
    assert sweep_env["ERRAND_SWEEP_INVOKER"] == token["service_account_email"]


# ---------------------------------------------------------------------------- jobs


def test_functions_may_run_only_the_errand_job() -> None:
    grants = config().of_kind("google_cloud_run_v2_job_iam_member")
    assert set(grants) == {"fn_runs_job", "deploy_rolls"}
    assert grants["deploy_rolls"]["member"] == "${google_service_account.deploy.member}"
    grant = grants["fn_runs_job"]
    assert grant["name"] == "${google_cloud_run_v2_job.stage.name}"
    assert grant["member"] == "${google_service_account.fn.member}"
    role = config().resource("google_project_iam_custom_role", "job_runner")
    assert set(role["permissions"]) <= {
        "run.jobs.get",
        "run.jobs.run",
        "run.jobs.runWithOverrides",
        "run.executions.get",
        "run.executions.list",
        "run.executions.cancel",
    }
    # nobody holds a Cloud Run role on the whole project, the deployer included
    for name, body in config().of_kind("google_project_iam_member").items():
        assert not str(body["role"]).startswith("roles/run"), name


def test_the_job_never_retries_and_runs_as_its_account() -> None:
    job = config().resource("google_cloud_run_v2_job", "stage")
    template = block(block(job, "template"), "template")
    assert template["max_retries"] == 0, "redelivery is Errand's own (leases + sweep)"
    assert template["service_account"] == "${google_service_account.job.email}"
    assert template["timeout"] == "${var.job_timeout_s}s"
    limits = block(block(template, "containers"), "resources")["limits"]
    assert limits == {"cpu": "${var.job_cpu}", "memory": "${var.job_memory}"}


def test_project_level_grants_are_few_and_conditioned() -> None:
    grants = config().of_kind("google_project_iam_member")
    assert set(grants) == {"firestore_user", "deploy_logs"}
    firestore = grants["firestore_user"]
    assert firestore["role"] == "roles/datastore.user"
    assert "errand-database-only" in str(firestore["condition"])
    assert grants["deploy_logs"]["role"] == "roles/logging.logWriter"
    for kind in ("google_project_iam_binding", "google_project_iam_policy"):
        assert not config().of_kind(kind), f"no {kind}: it would replace others' grants"


# ---------------------------------------------------------------------------- buckets


def test_buckets_are_uniform_and_private_but_the_web_app() -> None:
    buckets = config().of_kind("google_storage_bucket")
    assert {"blobs", "web", "access_logs"} <= set(buckets)
    for name, body in buckets.items():
        assert body["uniform_bucket_level_access"] is True, name
        if name != "web":
            assert body["public_access_prevention"] == "enforced", name
    public = {
        name: body["bucket"]
        for name, body in config().of_kind("google_storage_bucket_iam_member").items()
        if body["member"] in ("allUsers", "allAuthenticatedUsers")
    }
    assert public == {"web_public": "${google_storage_bucket.web.name}"}
    role = config().resource("google_storage_bucket_iam_member", "web_public")["role"]
    assert role == "roles/storage.objectViewer"


def test_blob_lifecycle_drops_working_state_before_artifacts() -> None:
    rules = config().resource("google_storage_bucket", "blobs")["lifecycle_rule"]
    deletes = [block(r, "condition") for r in rules if block(r, "action")["type"] == "Delete"]
    short = [c for c in deletes if "matches_suffix" in c]
    assert short and ".tar.gz" in short[0]["matches_suffix"]
    assert short[0]["age"] == "${var.working_state_retention_days}"
    assert any(c == {"age": "${var.artifact_retention_days}"} for c in deletes)


def _fields(index: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((f["field_path"], f["order"]) for f in index["fields"])


def test_firestore_indexes_cover_the_stores_queries() -> None:
    indexes = config().of_kind("google_firestore_index").values()
    shapes = {(i["collection"], i["query_scope"], _fields(i)) for i in indexes}
    by_time = (("at", "ASCENDING"), ("tie", "ASCENDING"))
    assert ("events", "COLLECTION", by_time) in shapes
    assert ("events", "COLLECTION_GROUP", by_time) in shapes
    database = config().resource("google_firestore_database", "errand")
    assert database["type"] == "FIRESTORE_NATIVE"
