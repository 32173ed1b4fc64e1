"""The relay's errors."""

from __future__ import annotations

from guardian.runtime.errors import GuardianError


class RelayError(GuardianError):
    """Base of the relay's own errors."""


class EnrolmentRefused(RelayError):
    """An enrolment, re-enrolment or rotation was refused. ``reason`` is stable, ``status`` the HTTP code."""

    def __init__(self, reason: str, message: str, status: int = 403) -> None:
        self.reason = reason
        self.status = status
        super().__init__(message)


class UnknownDevice(RelayError):
    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        super().__init__(f"no device {device_id!r}")


class CloudFeedError(RelayError):
    """A list the relay polls from the cloud (revocations, desired configs) could not be fetched or read;
    ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)
