"""TLS to the site's broker: the context that verifies it, and what a failed connection was, in words."""

from __future__ import annotations

import ssl

# The reasons a connection fails, as the metric labels them.
FAILURE_REASONS = ("certificate", "tls", "network", "refused")


def tls_context(ca_pem: str) -> ssl.SSLContext:
    """Verifies the broker's certificate chain and its host name: against ``ca_pem`` (the site's own CA,
    PEM) when given, else against the system's CAs. Raises :class:`ssl.SSLError` for a PEM without a
    usable certificate."""
    return ssl.create_default_context(cadata=ca_pem or None)


def failure(error: BaseException | None) -> tuple[str, str]:
    """A failed connection's reason (one of :data:`FAILURE_REASONS`) and its explanation for people."""
    if isinstance(error, ssl.SSLCertVerificationError):
        # "unable to get local issuer certificate", "Hostname mismatch, certificate is not valid for 'x'."
        return "certificate", f"the broker's certificate was refused: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return "tls", f"TLS failed: {error.reason or error}"
    return "network", f"the broker cannot be reached: {error}" if error else "the broker cannot be reached"
