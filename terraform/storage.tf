# Blobs: tasks/<id>/... — working state (workspace.tar.gz, prepare.json, checkpoints/*.json,
# logs) is deleted after `working_state_retention_days`; what a user comes back to (diff.patch,
# summary audio and text, fix notes) after `artifact_retention_days`. Private: the browser gets
# V4 signed URLs.
resource "google_storage_bucket" "blobs" {
  #checkov:skip=CKV_GCP_78:objects are overwritten in place (snapshots, checkpoints) and expire by lifecycle; old versions would keep every snapshot and defeat the retention rules
  name                        = "${var.project_id}-${local.name}-blobs"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection
  labels                      = local.labels

  # Objects are overwritten in place (snapshots, checkpoints); versions would only cost.
  versioning {
    enabled = false
  }

  lifecycle_rule {
    condition {
      age            = var.working_state_retention_days
      matches_suffix = [".tar.gz", ".json", ".log"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = var.artifact_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Multipart uploads of snapshots that a dead execution left unfinished.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  lifecycle {
    precondition {
      condition     = var.artifact_retention_days > var.working_state_retention_days
      error_message = "artifact_retention_days must be longer than working_state_retention_days."
    }
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }
}

resource "google_storage_bucket_iam_member" "blobs_rw" {
  for_each = {
    fn  = google_service_account.fn.member
    job = google_service_account.job.member
  }
  bucket = google_storage_bucket.blobs.name
  role   = "roles/storage.objectUser" # objects only: no bucket settings, no IAM
  member = each.value
}

# The web app's static build (web/dist). It is public by design — it is the page every browser
# loads and holds nothing but the built JavaScript, CSS and HTML — and the load balancer's
# backend bucket can only serve objects anonymous users may read.
resource "google_storage_bucket" "web" {
  #checkov:skip=CKV_GCP_114:public reads are this bucket's purpose (the load balancer's backend bucket serves only anonymously readable objects); it holds the built web app and nothing else
  name                        = "${var.project_id}-${local.name}-web"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "inherited"
  force_destroy               = true # rebuilt from web/ on every deploy
  labels                      = local.labels

  versioning {
    enabled = true # a bad deploy can be rolled back object by object
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 5
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  website {
    main_page_suffix = "index.html"
    not_found_page   = "index.html" # client-side routes
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }
}

resource "google_storage_bucket_iam_member" "web_public" {
  #checkov:skip=CKV_GCP_28:read-only access to the public web app's static files, nothing else is in this bucket
  bucket = google_storage_bucket.web.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}

resource "google_storage_bucket_iam_member" "web_deploy" {
  bucket = google_storage_bucket.web.name
  role   = "roles/storage.objectUser"
  member = google_service_account.deploy.member
}

# Usage and access logs of the two buckets above.
resource "google_storage_bucket" "access_logs" {
  #checkov:skip=CKV_GCP_62:this is the access-log bucket itself; logging it into itself would loop
  #checkov:skip=CKV_GCP_78:access logs are written once and expire after 90 days; versions add nothing
  name                        = "${var.project_id}-${local.name}-access-logs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection
  labels                      = local.labels

  versioning {
    enabled = false
  }

  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }
}

# Cloud Storage's access logging writes as this group.
resource "google_storage_bucket_iam_member" "access_logs_writer" {
  bucket = google_storage_bucket.access_logs.name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

# Source archives `gcloud builds submit` uploads (--gcs-source-staging-dir), readable by the
# deployer account the build runs as; kept a week.
resource "google_storage_bucket" "build_source" {
  #checkov:skip=CKV_GCP_78:source archives are written once per build and expire after 7 days; versions add nothing
  name                        = "${var.project_id}-${local.name}-build"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = local.labels

  versioning {
    enabled = false
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "Delete"
    }
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }
}

resource "google_storage_bucket_iam_member" "build_source_read" {
  bucket = google_storage_bucket.build_source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.deploy.member
}
