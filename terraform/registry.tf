resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:the images are built from this public repository and hold no secrets; Google-managed encryption at rest is enough, a customer key would add a second key ring to operate for nothing
  repository_id = local.name
  location      = var.region
  format        = "DOCKER"
  description   = "Errand images: job (sandbox_image/Dockerfile) and functions (deploy/functions.Dockerfile)"
  labels        = local.labels

  docker_config {
    # `latest` moves on every build; what runs is pinned by digest (cloudbuild.yaml)
    immutable_tags = false
  }

  # Keep the last 10 images of each package; untagged layers older than 30 days go.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.apis]
}
