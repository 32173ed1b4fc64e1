"""Relay request signatures in both schemes (RFC 9421 and the previous release's X-Guardian-*): what
verifies, what is refused, and that the default a relay sends is what a previous-release cloud checks."""

from __future__ import annotations

import time

import pytest

from guardian.contracts import auth
from guardian.contracts.auth import legacy

SCHEMES = ["legacy", "rfc9421"]
KEY = auth.generate_private_key()
PATH = "/api/v1/relay/revocations?since=2026-01-01"
BODY = b'{"events": []}'


def _sign(scheme: str, **kwargs: object) -> dict[str, str]:
    values: dict[str, object] = {"relay_id": "relay-a", "method": "POST", "path": PATH, "body": BODY}
    values.update(kwargs)
    return auth.sign_relay_request(KEY, scheme=scheme, **values)  # type: ignore[arg-type]


def _verify(headers: dict[str, str], **kwargs: object) -> auth.SignedRequest:
    values: dict[str, object] = {"method": "POST", "path": PATH, "body": BODY}
    values.update(kwargs)
    return auth.verify_relay_request(headers, KEY.public_key(), **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_signed_request_verifies(scheme: str) -> None:
    headers = _sign(scheme, nonce="n" * 24)
    assert auth.relay_id_of(headers) == "relay-a"
    assert auth.relay_id_of({k.lower(): v for k, v in headers.items()}) == "relay-a"
    signed = _verify(headers)
    assert (signed.relay_id, signed.nonce) == ("relay-a", "n" * 24)
    assert abs(signed.timestamp - time.time()) < auth.REQUEST_WINDOW
    assert ("Signature" in headers) == (scheme == "rfc9421")
    # Empty bodies (GET) are covered too.
    assert _verify(_sign(scheme, method="GET", body=b""), method="GET", body=b"").relay_id == "relay-a"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_tampered_or_stale_requests_are_refused(scheme: str) -> None:
    headers = _sign(scheme)
    invalid: list[dict[str, object]] = [
        {"body": BODY + b" "},
        {"path": "/api/v1/ingest"},
        {"path": "/api/v1/relay/revocations?since=2020-01-01"},
        {"method": "PUT"},
    ]
    for changes in invalid:
        with pytest.raises(auth.TokenInvalid):
            _verify(headers, **changes)
    with pytest.raises(auth.TokenInvalid):  # another relay's key
        auth.verify_relay_request(headers, auth.generate_private_key().public_key(), method="POST", path=PATH,
                                  body=BODY)
    with pytest.raises(auth.TokenExpired):
        _verify(_sign(scheme, now=time.time() - auth.REQUEST_WINDOW - 60))
    with pytest.raises(auth.TokenExpired):
        _verify(_sign(scheme, now=time.time() + auth.REQUEST_WINDOW + 60))
    with pytest.raises(auth.TokenInvalid):
        _verify(_sign(scheme, nonce="short"))
    with pytest.raises(auth.TokenInvalid):  # a header missing
        _verify({k: v for k, v in headers.items() if k not in {"Signature", "X-Guardian-Signature"}})


def test_rfc9421_parameters_cannot_be_swapped() -> None:
    """The nonce, time and relay id are signed: changing one in Signature-Input breaks the signature."""
    headers = _sign("rfc9421", nonce="a" * 24)
    for old, new in [('nonce="' + "a" * 24, 'nonce="' + "b" * 24), ('keyid="relay-a"', 'keyid="relay-b"')]:
        forged = {**headers, "Signature-Input": headers["Signature-Input"].replace(old, new)}
        with pytest.raises(auth.TokenInvalid):
            _verify(forged)
    unsigned_digest = {**headers, "Content-Digest": auth.sign_relay_request(
        KEY, relay_id="relay-a", method="POST", path=PATH, body=b"{}")["Content-Digest"]}
    with pytest.raises(auth.TokenInvalid):
        _verify(unsigned_digest, body=b"{}")


def test_a_previous_release_cloud_understands_only_the_legacy_headers() -> None:
    """Relays send ``legacy`` by default in this release, since clouds of the previous release check only
    ``X-Guardian-*`` (what :func:`legacy.verify_relay_request` does)."""
    signed = legacy.verify_relay_request(_sign("legacy"), KEY.public_key(), method="POST", path=PATH, body=BODY)
    assert signed.relay_id == "relay-a"
    with pytest.raises(auth.TokenInvalid):
        legacy.verify_relay_request(_sign("rfc9421"), KEY.public_key(), method="POST", path=PATH, body=BODY)
