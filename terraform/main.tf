# Errand on Google Cloud: HTTP functions (Cloud Run services built from the functions-framework
# targets in functions/main.py), a Cloud Tasks queue delivering each stage to dispatch, one Cloud
# Run Job running the sandbox image per stage, Firestore, Cloud Storage, KMS, Secret Manager and
# a global HTTPS load balancer in front of the web app and the API. See docs/deploy-gcp.md.
#
# No modules: every resource exists once (the three services are one for_each), so a module
# would only add a layer of inputs and outputs to read through. One file per concern instead.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  name = var.name_prefix

  # Cloud Run service URLs are deterministic (https://SERVICE-PROJECT_NUMBER.REGION.run.app),
  # which lets dispatch know its own URL (the OIDC audience it checks) without a cycle.
  run_url_suffix = "${data.google_project.this.number}.${var.region}.run.app"
  dispatch_base  = "https://${local.name}-dispatch-${local.run_url_suffix}"
  dispatch_url   = "${local.dispatch_base}/api/dispatch"
  sweep_url      = "${local.dispatch_base}/api/sweep"
  api_base       = "https://${local.name}-api-${local.run_url_suffix}"
  webhooks_base  = "https://${local.name}-webhooks-${local.run_url_suffix}"
  public_url     = "https://${var.domain}"

  registry    = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
  job_image   = coalesce(var.job_image, "${local.registry}/job:latest")
  func_image  = coalesce(var.functions_image, "${local.registry}/functions:latest")
  job_name    = "${local.name}-job"
  queue_name  = "${local.name}-stages"
  secret_base = "${local.name}-"

  labels = merge(var.labels, { app = "errand" })
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "compute.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # signBlob: V4 signed URLs without a key file
    "logging.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "texttospeech.googleapis.com",
  ])
  service = each.value
  # Turning an API off on destroy would break anything else in the project that uses it.
  disable_on_destroy = false
}
