# The key-encryption key of the envelope encryption of user credentials (ERRAND_KMS_KEY): each
# credential is sealed with a fresh data key, and only the data key goes to KMS. Rotation
# creates new versions; old versions stay enabled so older data keys still decrypt.
resource "google_kms_key_ring" "errand" {
  name     = "${local.name}-keys"
  location = var.region

  depends_on = [google_project_service.apis]
}

resource "google_kms_crypto_key" "credentials" {
  name            = "credentials"
  key_ring        = google_kms_key_ring.errand.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = var.kms_rotation_period
  labels          = local.labels

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = "SOFTWARE"
  }

  lifecycle {
    # destroying a key makes every stored credential unreadable
    prevent_destroy = true
  }
}

# The functions seal (users store keys through the API) and unseal; stage executions only
# unseal (the trusted controller calls the model with the owner's key).
resource "google_kms_crypto_key_iam_member" "fn_seals" {
  crypto_key_id = google_kms_crypto_key.credentials.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = google_service_account.fn.member
}

resource "google_kms_crypto_key_iam_member" "job_unseals" {
  crypto_key_id = google_kms_crypto_key.credentials.id
  role          = "roles/cloudkms.cryptoKeyDecrypter"
  member        = google_service_account.job.member
}
