# The lease sweeper: every minute, POST /api/sweep on dispatch. Stages whose execution died
# (lease expired) are delivered again, until their retry budget is spent. One minute is Cloud
# Scheduler's smallest interval; with ERRAND_LEASE_TTL_S = 30 a dead stage is noticed within
# 90 s.
resource "google_cloud_scheduler_job" "sweep" {
  name             = "${local.name}-sweep"
  region           = var.region
  description      = "Errand: redeliver stages whose lease expired"
  schedule         = "* * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  retry_config {
    # the next minute's run is the retry
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = local.sweep_url
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode("{}")
    oidc_token {
      service_account_email = google_service_account.sched.email
      # dispatch admits on /api/sweep only this account with this audience (ERRAND_SWEEP_URL,
      # ERRAND_SWEEP_INVOKER), and refuses the queue's tokens there
      audience = local.sweep_url
    }
  }

  depends_on = [google_project_service.apis]
}
