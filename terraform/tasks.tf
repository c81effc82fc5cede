# One queue carries every stage delivery: POST <dispatch>/api/dispatch with an OIDC token of
# the `tasks` account (the adapter sets target, token and a deterministic task name per task).
# Dispatch answers once the stage's execution has started, so a delivery is short; a failed one
# (dispatch down, Cloud Run quota) is retried here with exponential backoff. A stage that dies
# after it started is not the queue's business: its lease expires and the sweep delivers it
# again (scheduler.tf).
resource "google_cloud_tasks_queue" "stages" {
  name     = local.queue_name
  location = var.region

  rate_limits {
    max_dispatches_per_second = var.queue_max_dispatches_per_second
    max_concurrent_dispatches = var.queue_max_concurrent_dispatches
  }

  retry_config {
    # attempts, not time, end a delivery's retries: with the backoff below, 50 attempts span
    # ~3.7 h, so a regional capacity crunch delays stages instead of dropping them
    max_attempts       = var.queue_max_attempts
    max_retry_duration = "0s"
    min_backoff        = "5s"
    max_backoff        = "300s"
    # 5, 10, 20, 40, 80, 160 s, then linear steps up to 300 s
    max_doublings = 5
  }

  stackdriver_logging_config {
    # every attempt's outcome in Cloud Logging (bodies are not logged)
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.apis]
}
