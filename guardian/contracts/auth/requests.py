"""Relay → cloud request signatures: RFC 9421 HTTP Message Signatures, Ed25519, with an RFC 9530 digest.

Signed and verified through ``http-message-signatures`` (pyauth). A signed request carries::

    Content-Digest:   sha-256=:<base64 of SHA-256(body)>:
    Signature-Input:  guardian=("@method" "@path" "@query" "content-digest");created=<unix s>;
                      keyid="<relay id>";nonce="<16..64 url-safe chars>";alg="ed25519";tag="guardian-relay"
    Signature:        guardian=:<base64 Ed25519 signature>:

``keyid`` is the relay's id in the cloud, whose registered public key verifies the signature. The
authority and scheme are not covered (a proxy in front of the cloud may change them); method, path,
query and body are. The cloud accepts ``created`` within ±300 s of its clock and each nonce once per
relay (the replay check is the caller's, with its database). The previous release's ``X-Guardian-*``
headers (:mod:`~guardian.contracts.auth.legacy`) are accepted as well for one release; relays send them
by default until then (``[cloud] request_signature``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import http_sf
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)

from guardian.contracts.auth import legacy
from guardian.contracts.auth.errors import TokenExpired, TokenInvalid
from guardian.contracts.auth.grants import REQUEST_WINDOW, SignedRequest, now_seconds
from guardian.contracts.auth.keys import Ed25519PrivateKey, Ed25519PublicKey

#: ``legacy``: ``X-Guardian-*`` headers, all a previous-release cloud understands; ``rfc9421``: standard.
SignatureScheme = Literal["legacy", "rfc9421"]

LABEL = "guardian"
TAG = "guardian-relay"
COVERED = ("@method", "@path", "@query", "content-digest")
# Only path and query are covered; the resolver still wants an absolute URL to take them from.
_BASE_URL = "https://cloud.invalid"


@dataclass
class _Message:
    """The request as the library sees it: ``method``, absolute ``url`` and mutable ``headers``."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class _Verifier(HTTPMessageVerifier):
    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        """Left to :func:`verify_relay_request`, which checks ``created`` against its own ``now``."""


def _message(method: str, path: str, headers: dict[str, str] | None = None) -> _Message:
    if not path.startswith("/"):
        raise TokenInvalid("request path must start with /")
    return _Message(method=method.upper(), url=_BASE_URL + path, headers=headers or {})


def sign_relay_request(
    private_key: Ed25519PrivateKey,
    *,
    relay_id: str,
    method: str,
    path: str,
    body: bytes = b"",
    now: float | None = None,
    nonce: str | None = None,
    scheme: SignatureScheme = "rfc9421",
) -> dict[str, str]:
    """Headers that authenticate one relay → cloud request. ``path`` includes the query string if any,
    exactly as sent (e.g. ``/api/v1/ingest``); ``body`` is the exact bytes sent."""
    if scheme == "legacy":
        return legacy.sign_relay_request(
            private_key, relay_id=relay_id, method=method, path=path, body=body, now=now, nonce=nonce
        )
    message = _message(method, path)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={relay_id: private_key}),
    )
    signer.sign(
        message,
        key_id=relay_id,
        created=datetime.fromtimestamp(now_seconds(now), UTC),
        nonce=nonce or secrets.token_urlsafe(18),
        label=LABEL,
        tag=TAG,
        covered_component_ids=COVERED,
        body=body,
    )
    return message.headers


def _signature_params(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The parameters of the ``guardian-relay`` member of ``Signature-Input`` (unverified), if any."""
    value = legacy.header(headers, "Signature-Input")
    if not value:
        return None
    try:
        members = http_sf.parse(value.encode(), tltype="dictionary")
    except (ValueError, TypeError):
        return None
    if not isinstance(members, dict):
        return None
    for member in members.values():
        params = member[1] if isinstance(member, tuple) and len(member) == 2 else None
        if isinstance(params, dict) and params.get("tag") == TAG:
            return params
    return None


def relay_id_of(headers: Mapping[str, str]) -> str | None:
    """The claimed relay id (unverified), to look up its public key before :func:`verify_relay_request`."""
    params = _signature_params(headers)
    if params is not None:
        keyid = params.get("keyid")
        return keyid if isinstance(keyid, str) else None
    return legacy.header(headers, legacy.HEADER_RELAY)


def verify_relay_request(
    headers: Mapping[str, str],
    public_key: Ed25519PublicKey,
    *,
    method: str,
    path: str,
    body: bytes,
    now: float | None = None,
    window: int = REQUEST_WINDOW,
) -> SignedRequest:
    """Check a relay request's signature (either scheme) and its time (cloud side).

    Replay (the nonce) is the caller's job. Raises :class:`TokenInvalid` or :class:`TokenExpired`.
    """
    params = _signature_params(headers)
    if params is None:
        return legacy.verify_relay_request(
            headers, public_key, method=method, path=path, body=body, now=now, window=window
        )
    relay_id, nonce, created = params.get("keyid"), params.get("nonce"), params.get("created")
    if not isinstance(relay_id, str) or not relay_id:
        raise TokenInvalid("relay signature has no keyid")
    if not isinstance(nonce, str) or not legacy.NONCE_RE.match(nonce):
        raise TokenInvalid("relay nonce must be 16..64 url-safe characters")
    if type(created) is not int:
        raise TokenInvalid("relay signature has no created time")
    wanted = {name: value for name in ("Signature-Input", "Signature", "Content-Digest")
              if (value := legacy.header(headers, name)) is not None}
    verifier = _Verifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={relay_id: public_key}, private_keys={}),
    )
    try:
        verifier.verify(
            _message(method, path, wanted), max_age=None, expect_tag=TAG, require_components=COVERED, body=body
        )
    except (InvalidSignature, HTTPMessageSignaturesException):
        raise TokenInvalid("relay request signature does not verify") from None
    if abs(now_seconds(now) - created) > window:
        raise TokenExpired("relay request timestamp outside the accepted window")
    return SignedRequest(relay_id=relay_id, timestamp=created, nonce=nonce)
