variable "project_id" {
  description = "The Google Cloud project Errand deploys into (its id, not its number)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of every regional resource (Cloud Run, Cloud Tasks, Artifact Registry, buckets, KMS). Cloud Scheduler and Cloud Tasks must be available there."
  type        = string
  default     = "us-central1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1."
  }
}

variable "firestore_location" {
  description = "Firestore location: a region (e.g. us-central1) or a multi-region (nam5, eur3). Cannot change after creation."
  type        = string
  default     = "nam5"
}

variable "name_prefix" {
  description = "Prefix of every resource name (services, job, queue, secrets, accounts). Short, because Cloud Run URLs and service-account ids have length limits."
  type        = string
  default     = "errand"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}$", var.name_prefix))
    error_message = "name_prefix must be 2-12 characters: lowercase letters, digits, hyphens, starting with a letter."
  }
}

variable "domain" {
  description = "The domain the web app and API are served on (a Google-managed certificate is issued for it; point its A record at the output lb_ip_address)."
  type        = string
  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a fully qualified lowercase domain name such as errand.example.com."
  }
}

variable "job_image" {
  description = "Image of the Cloud Run Job (sandbox_image/Dockerfile). Empty = <region>-docker.pkg.dev/<project>/<prefix>/job:latest; Cloud Build pins a digest on each deploy."
  type        = string
  default     = ""
}

variable "functions_image" {
  description = "Image of the api, webhooks and dispatch services (deploy/functions.Dockerfile). Empty = the registry's functions:latest."
  type        = string
  default     = ""
}

variable "job_cpu" {
  description = "vCPUs of one stage execution (Cloud Run Jobs allows 1, 2, 4, 6 or 8)."
  type        = string
  default     = "2"
  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.job_cpu)
    error_message = "job_cpu must be one of 1, 2, 4, 6, 8."
  }
}

variable "job_memory" {
  description = "Memory of one stage execution, e.g. 4Gi. The task workspace is an in-memory filesystem on Cloud Run, so this bounds repository + dependencies + sandbox memory."
  type        = string
  default     = "8Gi"
  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.job_memory))
    error_message = "job_memory must be a Kubernetes quantity in Mi or Gi, e.g. 8Gi."
  }
}

variable "job_timeout_s" {
  description = "Longest a stage execution may run, in seconds (also ERRAND_RUN_JOB_TIMEOUT_S). Errand's own budgets end a stage before this."
  type        = number
  default     = 3600
  validation {
    condition     = var.job_timeout_s >= 300 && var.job_timeout_s <= 86400
    error_message = "job_timeout_s must be between 300 and 86400 (Cloud Run Jobs' limit is 24 h)."
  }
}

variable "job_vpc" {
  description = "Optional Direct VPC egress for stage executions: all their traffic leaves through this network/subnetwork, whose firewall and Cloud NAT then decide what the sandbox can reach. null = direct internet egress, no private ranges."
  type = object({
    network    = string
    subnetwork = string
  })
  default = null
}

variable "queue_max_dispatches_per_second" {
  description = "Cloud Tasks dispatch rate of the stage queue (each dispatch starts at most one job execution)."
  type        = number
  default     = 10
  validation {
    condition     = var.queue_max_dispatches_per_second > 0 && var.queue_max_dispatches_per_second <= 500
    error_message = "queue_max_dispatches_per_second must be in (0, 500] (Cloud Tasks' per-queue maximum)."
  }
}

variable "queue_max_concurrent_dispatches" {
  description = "Stage deliveries in flight at once (dispatch answers as soon as the execution has started, so this is not the number of running stages)."
  type        = number
  default     = 50
  validation {
    condition     = var.queue_max_concurrent_dispatches >= 1 && var.queue_max_concurrent_dispatches <= 5000
    error_message = "queue_max_concurrent_dispatches must be between 1 and 5000."
  }
}

variable "queue_max_attempts" {
  description = "Delivery attempts of one stage request before Cloud Tasks drops it. Failed deliveries are ones dispatch refused or could not start (e.g. the region's running-executions limit); with 5-300 s backoff, 50 attempts span ~3.7 h. A stage that started and died is redelivered by the sweep, under Errand's own ERRAND_STAGE_ATTEMPTS."
  type        = number
  default     = 50
  validation {
    condition     = var.queue_max_attempts >= 1 && var.queue_max_attempts <= 100
    error_message = "queue_max_attempts must be between 1 and 100."
  }
}

variable "functions_max_instances" {
  description = "Most instances of each HTTP service; bounds cost and the Firestore/Cloud Run API call rate under a flood."
  type        = number
  default     = 20
  validation {
    condition     = var.functions_max_instances >= 1 && var.functions_max_instances <= 1000
    error_message = "functions_max_instances must be between 1 and 1000."
  }
}

variable "api_min_instances" {
  description = "Warm API instances (0 = scale to zero, a cold start on the first request)."
  type        = number
  default     = 0
  validation {
    condition     = var.api_min_instances >= 0 && var.api_min_instances <= 10
    error_message = "api_min_instances must be between 0 and 10."
  }
}

variable "github_app_id" {
  description = "The GitHub App's numeric id (0 until the App exists: create it from the manifest, then set this and apply again)."
  type        = number
  default     = 0
  validation {
    condition     = var.github_app_id >= 0 && floor(var.github_app_id) == var.github_app_id
    error_message = "github_app_id must be a whole number (0 = no App yet)."
  }
}

variable "github_client_id" {
  description = "The GitHub App's OAuth client id (public; its secret lives in Secret Manager). Empty disables GitHub sign-in."
  type        = string
  default     = ""
}

variable "github_label" {
  description = "The issue label that starts a task."
  type        = string
  default     = "errand"
}

variable "model" {
  description = "The operator's default model (a litellm model string). Users may bring their own keys per provider."
  type        = string
  default     = ""
}

variable "tts_voice" {
  description = "Cloud Text-to-Speech voice of the spoken summaries."
  type        = string
  default     = "en-US-Neural2-D"
}

variable "working_state_retention_days" {
  description = "Days before workspace snapshots, checkpoints, stage state and logs (blobs ending .tar.gz, .json, .log) are deleted."
  type        = number
  default     = 7
  validation {
    condition     = var.working_state_retention_days >= 1
    error_message = "working_state_retention_days must be at least 1."
  }
}

variable "artifact_retention_days" {
  description = "Days before every other blob (diffs, audio, summaries) is deleted; must be longer than working_state_retention_days."
  type        = number
  default     = 365
  validation {
    condition     = var.artifact_retention_days >= 30
    error_message = "artifact_retention_days must be at least 30."
  }
}

variable "kms_rotation_period" {
  description = "Rotation period of the key-encryption key, in seconds with an s suffix (7776000s = 90 days; at most 90 days). Old versions stay to decrypt old data keys."
  type        = string
  default     = "7776000s"
  validation {
    condition     = can(regex("^[0-9]+s$", var.kms_rotation_period)) && try(tonumber(trimsuffix(var.kms_rotation_period, "s")) >= 86400 && tonumber(trimsuffix(var.kms_rotation_period, "s")) <= 7776000, false)
    error_message = "kms_rotation_period must be between 86400s (1 day) and 7776000s (90 days)."
  }
}

variable "deletion_protection" {
  description = "Protect the Firestore database, the blobs bucket and the Cloud Run resources from terraform destroy. Turn off only for throwaway projects."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Extra labels on every labelled resource."
  type        = map(string)
  default     = {}
}
