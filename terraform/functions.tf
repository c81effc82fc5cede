# The HTTP functions: one Cloud Run service per functions-framework target of
# functions/main.py (same image, FUNCTION_TARGET picks the target), so each scales and is
# secured on its own. Cloud Run services rather than `google_cloudfunctions2_function`: a 2nd gen
# function is a Cloud Run service underneath, and deploying our own image keeps the functions
# on exactly the locked dependencies the tests ran with (no build from source at deploy time).
locals {
  services = {
    # The web app's and the CLI's API, reached only through the load balancer (/api/*,
    # /auth/*). Long timeout: event streams (SSE) stay open.
    api = {
      ingress     = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
      min         = var.api_min_instances
      timeout     = "3600s"
      concurrency = 80
      memory      = "1Gi"
      extra_env = {
        # the token broker (/api/github/token) hands GitHub tokens to this account only
        ERRAND_JOB_SERVICE_ACCOUNT = google_service_account.job.email
      }
    }
    # GitHub App deliveries, through the load balancer (/api/webhooks/*): verified by HMAC,
    # deduplicated by delivery id; they answer fast and enqueue.
    webhooks = {
      ingress     = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
      min         = 0
      timeout     = "60s"
      concurrency = 40
      memory      = "512Mi"
      extra_env   = {}
    }
    # Cloud Tasks' and Cloud Scheduler's target. Internal only: both are in-project Google
    # sources that Cloud Run's "internal" ingress admits, so the internet cannot even reach
    # the OIDC check.
    dispatch = {
      ingress     = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      min         = 0
      timeout     = "600s"
      concurrency = 20
      memory      = "1Gi"
      extra_env = {
        # /api/sweep admits Cloud Scheduler's account for the sweep's URL, /api/dispatch the
        # queue's for dispatch's (ERRAND_TASKS_INVOKER, ERRAND_DISPATCH_URL in common_env)
        ERRAND_SWEEP_INVOKER = google_service_account.sched.email
        ERRAND_SWEEP_URL     = local.sweep_url
      }
    }
  }

  fn_secrets = { for k, s in local.app_secrets : k => s if contains(s.readers, "fn") }
}

resource "google_cloud_run_v2_service" "fn" {
  for_each            = local.services
  name                = "${local.name}-${each.key}"
  location            = var.region
  ingress             = each.value.ingress
  deletion_protection = var.deletion_protection
  labels              = local.labels

  template {
    service_account                  = google_service_account.fn.email
    timeout                          = each.value.timeout
    max_instance_request_concurrency = each.value.concurrency
    labels                           = local.labels

    scaling {
      min_instance_count = each.value.min
      max_instance_count = var.functions_max_instances
    }

    containers {
      image = local.func_image
      resources {
        limits = {
          cpu    = "1"
          memory = each.value.memory
        }
        cpu_idle          = true # billed per request; SSE streams keep CPU while open
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = merge(local.common_env, each.value.extra_env, {
          FUNCTION_TARGET            = each.key
          ERRAND_GITHUB_CLIENT_ID    = var.github_client_id
          ERRAND_CORS_ORIGINS        = local.public_url
          ERRAND_GCP_SERVICE_ACCOUNT = google_service_account.fn.email
        })
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.fn_secrets
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

      startup_probe {
        tcp_socket {
          port = 8080
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].containers[0].image, client, client_version]
  }

  depends_on = [google_secret_manager_secret_iam_member.readers]
}

# Who may call each service. api and webhooks: anyone the load balancer forwards (browsers,
# the CLI, GitHub) — they authenticate requests themselves (sessions, tokens, webhook HMAC),
# and their ingress admits only the load balancer. dispatch: only the queue's and the
# scheduler's accounts, and dispatch checks their OIDC tokens again itself.
locals {
  invokers = {
    "api/public"      = { service = "api", member = "allUsers" }
    "webhooks/public" = { service = "webhooks", member = "allUsers" }
    "dispatch/tasks"  = { service = "dispatch", member = google_service_account.tasks.member }
    "dispatch/sched"  = { service = "dispatch", member = google_service_account.sched.member }
  }
}

resource "google_cloud_run_v2_service_iam_member" "invokers" {
  for_each = local.invokers
  name     = google_cloud_run_v2_service.fn[each.value.service].name
  location = var.region
  role     = "roles/run.invoker"
  member   = each.value.member
}
