"""A local stand-in for the Google Cloud REST APIs that have no emulator: Cloud KMS, Secret
Manager, Text-to-Speech and Cloud Run Jobs, and the metadata server's identity tokens (with
their JWKS). It speaks the documented REST surface Errand's
adapters call (paths, camelCase JSON, long-running operations, Google's error shape), so the
real client libraries run against it with `transport="rest"`, an `api_endpoint` and anonymous
credentials. `python -m shared.gcp_standin --port N --state DIR`; `errand emulators` starts it.

What it does not do: IAM (every call is allowed), quotas, key rotation, secret replication.
State lives in memory (one `errand emulators` run), except what the Cloud Run part needs on
disk: the job's environment and its executions' logs, under --state."""
