# Static hosting: the web bucket behind a global external Application Load Balancer, which also
# routes /api/webhooks/* to webhooks and /api/* and /auth/* to api through serverless NEGs.
#
# Why a load balancer rather than Firebase Hosting: Firebase Hosting's rewrites to Cloud Run
# end requests after 60 seconds, which would cut every live event stream (SSE) the web app and
# the CLI hold open; the load balancer leaves a serverless backend's timeout to the Cloud Run
# service (3600 s for api). It also gives one origin for the app and the API (session cookies
# stay SameSite=Strict-friendly, no CORS), lets api and webhooks refuse every request that did
# not come through it (ingress), and keeps the whole deployment in one terraform provider.

resource "google_compute_global_address" "web" {
  name       = "${local.name}-web"
  depends_on = [google_project_service.apis]
}

resource "google_compute_managed_ssl_certificate" "web" {
  name = "${local.name}-web"
  managed {
    domains = [var.domain]
  }
}

resource "google_compute_ssl_policy" "web" {
  name            = "${local.name}-tls"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_backend_bucket" "web" {
  name        = "${local.name}-web"
  bucket_name = google_storage_bucket.web.name
  enable_cdn  = true
  cdn_policy {
    # index.html is uploaded with Cache-Control: no-cache, hashed assets as immutable
    cache_mode = "USE_ORIGIN_HEADERS"
  }
}

resource "google_compute_region_network_endpoint_group" "fn" {
  for_each              = toset(["api", "webhooks"])
  name                  = "${local.name}-${each.key}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"
  cloud_run {
    service = google_cloud_run_v2_service.fn[each.key].name
  }
}

resource "google_compute_backend_service" "fn" {
  for_each              = google_compute_region_network_endpoint_group.fn
  name                  = "${local.name}-${each.key}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.api.id
  backend {
    group = each.value.id
  }
  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

# Cloud Armor in front of the API: a per-client rate limit (Errand's own quotas limit tasks;
# this limits request floods before they cost an instance).
resource "google_compute_security_policy" "api" {
  name        = "${local.name}-api"
  description = "Errand API: per-IP rate limit"

  rule {
    action   = "throttle"
    priority = 1000
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = 600
        interval_sec = 60
      }
    }
    description = "600 requests a minute per client IP"
  }

  rule {
    action   = "deny(403)"
    priority = 900
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('cve-canary')"
      }
    }
    description = "Log4j (CVE-2021-44228) lookups: nothing of Errand is Java, but the rule is free"
  }

  rule {
    action   = "allow"
    priority = 2147483647
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    description = "default"
  }
}

resource "google_compute_url_map" "web" {
  name            = "${local.name}-web"
  default_service = google_compute_backend_bucket.web.id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "errand"
  }

  path_matcher {
    name            = "errand"
    default_service = google_compute_backend_bucket.web.id
    # the most specific path wins, whatever the order of the rules
    path_rule {
      paths   = ["/api/webhooks/*"]
      service = google_compute_backend_service.fn["webhooks"].id
    }
    path_rule {
      paths   = ["/api", "/api/*", "/auth/*", "/blobs/*"]
      service = google_compute_backend_service.fn["api"].id
    }
  }
}

resource "google_compute_target_https_proxy" "web" {
  name             = "${local.name}-web"
  url_map          = google_compute_url_map.web.id
  ssl_certificates = [google_compute_managed_ssl_certificate.web.id]
  ssl_policy       = google_compute_ssl_policy.web.id
}

resource "google_compute_global_forwarding_rule" "https" {
  name                  = "${local.name}-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.web.address
  port_range            = "443"
  target                = google_compute_target_https_proxy.web.id
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "redirect" {
  name = "${local.name}-redirect"
  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  name    = "${local.name}-redirect"
  url_map = google_compute_url_map.redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  name                  = "${local.name}-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.web.address
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect.id
}
