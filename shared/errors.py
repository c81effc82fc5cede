"""One exception root. Expected outcomes are exceptions carrying what the caller needs; every
message says what was wrong and what to do."""

from __future__ import annotations


class ErrandError(Exception):
    """Root of every error Errand raises on purpose. `code` is stable and machine-readable."""

    code = "errand_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ErrandError, ValueError):
    code = "invalid_input"
    http_status = 400


class NotFound(ErrandError, LookupError):
    code = "not_found"
    http_status = 404


class Conflict(ErrandError):
    """A compare-and-set lost: the record changed since it was read."""

    code = "conflict"
    http_status = 409


class InvalidTransition(Conflict):
    code = "invalid_transition"


class Unauthorized(ErrandError):
    code = "unauthorized"
    http_status = 401


class Forbidden(ErrandError):
    code = "forbidden"
    http_status = 403


class QuotaExceeded(ErrandError):
    """A per-user quota is used up. `retry_after_s` and `resets_at` (ISO 8601, UTC) say when
    to try again; HTTP answers 429 with a Retry-After header."""

    code = "quota_exceeded"
    http_status = 429

    def __init__(self, message: str, retry_after_s: int, resets_at: str) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.resets_at = resets_at


class ConfigError(ErrandError):
    code = "config_error"
    http_status = 500


class ModelError(ErrandError):
    """The model could not be called or answered unusably."""

    code = "model_error"
    http_status = 502


class BudgetExceeded(ErrandError):
    code = "budget_exceeded"


class SandboxError(ErrandError):
    code = "sandbox_error"


class ForgeError(ErrandError):
    code = "forge_error"


class StageFailed(ErrandError):
    """A stage ends the task as failed with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
