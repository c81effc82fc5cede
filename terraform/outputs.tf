output "hosting_url" {
  description = "Where the web app is served (once DNS points at lb_ip_address and the certificate is active)."
  value       = local.public_url
}

output "api_url" {
  description = "The API's base URL for the web app and the CLI (ERRAND_SERVER): same origin as the web app."
  value       = local.public_url
}

output "webhook_url" {
  description = "The GitHub App's webhook URL."
  value       = "${local.public_url}/api/webhooks/github"
}

output "oauth_callback_url" {
  description = "The GitHub App's callback URL (browser sign-in)."
  value       = "${local.public_url}/auth/github/callback"
}

output "lb_ip_address" {
  description = "Point the domain's A record here."
  value       = google_compute_global_address.web.address
}

output "dispatch_url" {
  description = "Cloud Tasks' target (internal ingress only)."
  value       = local.dispatch_url
}

output "blobs_bucket" {
  description = "Task artifacts (private; signed URLs)."
  value       = google_storage_bucket.blobs.name
}

output "web_bucket" {
  description = "The web app's static files (cloudbuild.yaml uploads web/dist here)."
  value       = google_storage_bucket.web.name
}

output "image_repository" {
  description = "Artifact Registry path the images are pushed to."
  value       = local.registry
}

output "job_name" {
  description = "The Cloud Run Job running stages."
  value       = google_cloud_run_v2_job.stage.name
}

output "deployer_service_account" {
  description = "Run Cloud Build as this account (gcloud builds submit --service-account)."
  value       = google_service_account.deploy.id
}

output "secret_ids" {
  description = "Secret Manager secrets to fill with gcloud secrets versions add (see docs/deploy-gcp.md)."
  value       = { for k, s in google_secret_manager_secret.app : k => s.secret_id }
}

output "build_source_bucket" {
  description = "Staging bucket for gcloud builds submit (--gcs-source-staging-dir=gs://<this>/source)."
  value       = google_storage_bucket.build_source.name
}
