terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.10, < 7"
    }
  }

  # State holds no secret values (secrets are created empty; their versions are added with
  # gcloud, see docs/deploy-gcp.md), but it does describe the whole deployment: keep it in a
  # bucket of its own, e.g.
  #   terraform init -backend-config="bucket=<project>-tfstate" -backend-config="prefix=errand"
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}
