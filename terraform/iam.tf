# Service accounts, one per role, each with only what its role needs. Bindings sit on the
# resource (bucket, key, secret, queue, job, service) wherever Google Cloud allows it; the only
# project-level grants are Firestore access (Firestore has no per-collection IAM; the condition
# limits it to Errand's database) and the custom role definition itself.
#
#   fn      the api, webhooks and dispatch services (the trusted side)
#   job     stage executions of the sandbox image (trusted controller + bubblewrap sandbox)
#   tasks   the identity Cloud Tasks signs its OIDC tokens as: the only caller of /api/dispatch
#   sched   the identity Cloud Scheduler signs its OIDC tokens as: the only caller of /api/sweep
#   deploy  Cloud Build: pushes images, rolls the services and the job, uploads the web app

resource "google_service_account" "fn" {
  account_id   = "${local.name}-fn"
  display_name = "Errand functions (api, webhooks, dispatch)"
}

resource "google_service_account" "job" {
  account_id   = "${local.name}-job"
  display_name = "Errand stage executions (Cloud Run Job)"
}

resource "google_service_account" "tasks" {
  account_id   = "${local.name}-tasks"
  display_name = "Errand Cloud Tasks OIDC invoker of dispatch"
}

resource "google_service_account" "sched" {
  account_id   = "${local.name}-sched"
  display_name = "Errand Cloud Scheduler OIDC invoker of sweep"
}

resource "google_service_account" "deploy" {
  account_id   = "${local.name}-deploy"
  display_name = "Errand Cloud Build deployer"
}

# --- Firestore: fn and job read and write documents (no admin, no index or export rights).
resource "google_project_iam_member" "firestore_user" {
  for_each = {
    fn  = google_service_account.fn.member
    job = google_service_account.job.member
  }
  project = var.project_id
  role    = "roles/datastore.user"
  member  = each.value
  condition {
    title       = "errand-database-only"
    description = "Only Errand's Firestore database"
    expression  = "resource.name.startsWith(\"${google_firestore_database.errand.id}\")"
  }
}

# --- Running stages: exactly the permissions to start the Errand job with overrides, follow
# and cancel its executions; granted on the job resource only, so no other job can be run.
resource "google_project_iam_custom_role" "job_runner" {
  role_id     = replace("${local.name}_job_runner", "-", "_")
  title       = "Errand job runner"
  description = "Run one Cloud Run Job with per-execution overrides, read and cancel its executions"
  permissions = [
    "run.jobs.get",
    "run.jobs.run",
    "run.jobs.runWithOverrides",
    "run.executions.get",
    "run.executions.list",
    "run.executions.cancel",
  ]
}

resource "google_cloud_run_v2_job_iam_member" "fn_runs_job" {
  name     = google_cloud_run_v2_job.stage.name
  location = var.region
  role     = google_project_iam_custom_role.job_runner.id
  member   = google_service_account.fn.member
}

# --- Enqueueing the next stage: fn (dispatch, sweep, API approvals) and job (a stage enqueues
# its successor). Creating a task with an OIDC token as `tasks` needs actAs on `tasks`;
# actAs does not let them mint tokens for it (that would be roles/iam.serviceAccountTokenCreator).
resource "google_cloud_tasks_queue_iam_member" "enqueuers" {
  for_each = {
    fn  = google_service_account.fn.member
    job = google_service_account.job.member
  }
  name     = google_cloud_tasks_queue.stages.name
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = each.value
}

resource "google_service_account_iam_member" "act_as_tasks" {
  for_each = {
    fn  = google_service_account.fn.member
    job = google_service_account.job.member
  }
  service_account_id = google_service_account.tasks.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

# --- V4 signed URLs without a key file: fn signs through the IAM signBlob API as itself.
resource "google_service_account_iam_member" "fn_signs_urls" {
  service_account_id = google_service_account.fn.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.fn.member
}

# --- Deployer (Cloud Build): roll the three services and the job — on those resources only, so
# it can create no other service or job — and write build logs.
resource "google_project_iam_member" "deploy_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.deploy.member
}

resource "google_cloud_run_v2_service_iam_member" "deploy_rolls" {
  for_each = local.services
  name     = google_cloud_run_v2_service.fn[each.key].name
  location = var.region
  role     = "roles/run.developer"
  member   = google_service_account.deploy.member
}

resource "google_cloud_run_v2_job_iam_member" "deploy_rolls" {
  name     = google_cloud_run_v2_job.stage.name
  location = var.region
  role     = "roles/run.developer"
  member   = google_service_account.deploy.member
}

resource "google_service_account_iam_member" "deploy_acts_as_runtime" {
  for_each = {
    fn  = google_service_account.fn.name
    job = google_service_account.job.name
  }
  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deploy.member
}

resource "google_artifact_registry_repository_iam_member" "deploy_pushes" {
  repository = google_artifact_registry_repository.images.name
  location   = var.region
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.deploy.member
}

# Cloud Run pulls images as its service agent (same project), so the runtime accounts need no
# registry role.
