"""Errors the API raises on purpose; each becomes ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from guardian.runtime.errors import GuardianError


class CloudError(GuardianError):
    """Base of the cloud's deliberate errors."""


class ApiError(CloudError):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class TooMany(ApiError):
    status = 429
    code = "rate_limited"


class QuotaExceeded(ApiError):
    status = 409
    code = "quota_exceeded"
