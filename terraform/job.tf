# The sandbox image as one Cloud Run Job; each stage is one execution of it, started by
# dispatch with per-execution overrides (the stage request as argument, ERRAND_TASK_ID and
# ERRAND_STAGE, the timeout). Redelivery is Errand's own (leases + sweep + the queue), so Cloud
# Run never retries an execution: a retried stage would race the redelivered one.
locals {
  # Settings every process shares (shared/settings.py, shared/gcp_settings.py).
  common_env = {
    ERRAND_STORE              = "firestore"
    ERRAND_QUEUE              = "cloudtasks"
    ERRAND_BLOBS              = "gcs"
    ERRAND_SECRETS            = "kms"
    ERRAND_SPEECH             = "google"
    ERRAND_JOBS               = "cloudrun"
    ERRAND_LOG_FORMAT         = "json"
    ERRAND_GCP_PROJECT        = var.project_id
    ERRAND_GCP_LOCATION       = var.region
    ERRAND_FIRESTORE_DATABASE = google_firestore_database.errand.name
    ERRAND_GCS_BUCKET         = google_storage_bucket.blobs.name
    ERRAND_KMS_KEY            = google_kms_crypto_key.credentials.id
    ERRAND_SECRET_PREFIX      = local.secret_base
    ERRAND_TTS_VOICE          = var.tts_voice
    ERRAND_TASKS_QUEUE        = google_cloud_tasks_queue.stages.name
    ERRAND_DISPATCH_URL       = local.dispatch_url
    ERRAND_TASKS_INVOKER      = google_service_account.tasks.email
    ERRAND_RUN_JOB            = local.job_name
    ERRAND_RUN_JOB_TIMEOUT_S  = tostring(var.job_timeout_s)
    ERRAND_PUBLIC_URL         = local.public_url
    ERRAND_SERVER             = local.public_url
    ERRAND_MODEL              = var.model
    ERRAND_GITHUB_APP_ID      = tostring(var.github_app_id)
    ERRAND_GITHUB_LABEL       = var.github_label
    # Where stage executions ask for their GitHub tokens (the api service, through the load
    # balancer) and the audience of the OIDC token they ask with (shared/token_broker.py).
    ERRAND_GITHUB_TOKEN_BROKER_URL = "${local.public_url}/api/github/token"
  }

  # Stage executions only: their GitHub tokens come from the broker, since their account
  # cannot read the App's key (secrets.tf). Their identity token comes from Cloud Run's
  # metadata server, which needs no IAM grant.
  job_env = merge(local.common_env, { ERRAND_GITHUB_TOKENS = "broker" })
}

resource "google_cloud_run_v2_job" "stage" {
  name                = local.job_name
  location            = var.region
  deletion_protection = var.deletion_protection
  labels              = local.labels

  template {
    # one execution = one task (one container) = one stage
    task_count  = 1
    parallelism = 1
    labels      = local.labels

    template {
      service_account = google_service_account.job.email
      timeout         = "${var.job_timeout_s}s"
      max_retries     = 0
      # gen2: a full Linux kernel surface (user namespaces for bubblewrap)
      execution_environment = "EXECUTION_ENVIRONMENT_GEN2"

      containers {
        image = local.job_image
        resources {
          limits = {
            cpu    = var.job_cpu
            memory = var.job_memory
          }
        }

        dynamic "env" {
          for_each = local.job_env
          content {
            name  = env.key
            value = env.value
          }
        }

        # Only the model key: the job's account cannot read any GitHub secret (secrets.tf).
        dynamic "env" {
          for_each = { for k, s in local.app_secrets : k => s if contains(s.readers, "job") }
          content {
            name = env.value.env
            value_source {
              secret_key_ref {
                secret  = google_secret_manager_secret.app[env.key].secret_id
                version = "latest"
              }
            }
          }
        }
      }

      # Egress: by default stage executions reach the internet directly (package installs in
      # prepare) and nothing private. With job_vpc set, all their traffic goes through that
      # subnet instead, whose firewall rules and Cloud NAT decide what is reachable (e.g. only
      # the package registries, through a proxy) — it must still reach GitHub and the load
      # balancer's address (the token broker, the API).
      dynamic "vpc_access" {
        for_each = var.job_vpc == null ? [] : [var.job_vpc]
        content {
          egress = "ALL_TRAFFIC"
          network_interfaces {
            network    = vpc_access.value.network
            subnetwork = vpc_access.value.subnetwork
          }
        }
      }
    }
  }

  lifecycle {
    # Cloud Build rolls new images (pinned by digest); terraform owns everything else.
    ignore_changes = [template[0].template[0].containers[0].image, client, client_version]
  }

  depends_on = [google_secret_manager_secret_iam_member.readers]
}
