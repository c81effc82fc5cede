# App secrets. Terraform creates the secrets and who may read them, never their values: the
# values are added as versions with gcloud (docs/deploy-gcp.md), so they are in neither the
# configuration nor the state. Services read the latest version into the setting named here.
#
# Who reads what is the point of this file: stage executions (`job`) run repository code in a
# sandbox next to a trusted controller, so they get only the operator's model key; the GitHub
# App key, the webhook secret, the OAuth client secret and the session key stay with `fn`.
# Executions get short-lived installation tokens for their task's repository from `fn`'s token
# broker instead, by their OIDC identity and lease (shared/token_broker.py).
locals {
  app_secrets = {
    github-private-key = {
      env     = "ERRAND_GITHUB_PRIVATE_KEY"
      readers = ["fn"]
      purpose = "GitHub App private key (PEM)"
    }
    github-webhook-secret = {
      env     = "ERRAND_GITHUB_WEBHOOK_SECRET"
      readers = ["fn"]
      purpose = "GitHub App webhook secret (HMAC-SHA256)"
    }
    github-client-secret = {
      env     = "ERRAND_GITHUB_CLIENT_SECRET"
      readers = ["fn"]
      purpose = "GitHub App OAuth client secret (browser sign-in)"
    }
    session-secret = {
      env     = "ERRAND_SESSION_SECRET"
      readers = ["fn"]
      purpose = "Key signing session cookies and blob URLs"
    }
    model-api-key = {
      env     = "ERRAND_MODEL_API_KEY"
      readers = ["fn", "job"]
      purpose = "The operator's default model key (users may bring their own)"
    }
  }

  secret_readers = {
    fn  = google_service_account.fn.member
    job = google_service_account.job.member
  }

  secret_grants = merge([
    for name, s in local.app_secrets : {
      for reader in s.readers : "${name}/${reader}" => { secret = name, member = local.secret_readers[reader] }
    }
  ]...)
}

resource "google_secret_manager_secret" "app" {
  for_each  = local.app_secrets
  secret_id = "${local.secret_base}${each.key}"
  labels    = merge(local.labels, { purpose = replace(each.key, "-", "_") })

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "readers" {
  for_each  = local.secret_grants
  secret_id = google_secret_manager_secret.app[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member
}
