"""Why a token or a signed request was refused."""

from __future__ import annotations

from guardian.runtime.errors import GuardianError


class TokenError(GuardianError):
    """A token or signed request was refused. ``reason`` is a short machine-readable word."""

    reason = "invalid"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class TokenInvalid(TokenError):
    """Malformed, badly signed, signed by an unknown key, or of the wrong type."""

    reason = "invalid"


class TokenExpired(TokenError):
    """Well signed but outside its validity period (or a request timestamp outside the window)."""

    reason = "expired"


class TokenMismatch(TokenError):
    """Well signed and current but for another tenant, relay, device, event or scope."""

    reason = "mismatch"
