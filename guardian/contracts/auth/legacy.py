"""The ``gt1`` token envelope and the ``X-Guardian-*`` request signatures: kept for one release.

Relays in the field verify only these, so this release's verifiers accept them beside the standard
formats (JWT, RFC 9421) while the cloud keeps minting ``gt1`` and relays keep sending ``X-Guardian-*``
by default; the next release flips both defaults, and the one after removes this module.

Token text: ``gt1.<base64url(canonical JSON claims)>.<base64url(Ed25519 signature)>``, the signature
over ``b"guardian-token-v1." + <claims part>``; claims hold ``typ`` (``clip`` or ``bootstrap``), ``kid``
and the claims of :mod:`guardian.contracts.auth.grants`.

Request headers, made with the relay's Ed25519 key::

    X-Guardian-Relay:      <relay id>
    X-Guardian-Timestamp:  <unix seconds>
    X-Guardian-Nonce:      <random, 16..64 url-safe chars>
    X-Guardian-Signature:  <base64url Ed25519 signature>

over ``guardian-relay-request-v1\\n{METHOD}\\n{path?query}\\n{timestamp}\\n{nonce}\\n{sha256hex(body)}``.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from guardian.contracts.auth.errors import TokenExpired, TokenInvalid
from guardian.contracts.auth.grants import (
    CLIP_TOKEN_MAX_TTL,
    MAX_TOKEN_CHARS,
    REQUEST_WINDOW,
    BootstrapGrant,
    ClipGrant,
    SignedRequest,
    bootstrap_claims,
    bootstrap_grant,
    clip_claims,
    clip_grant,
    now_seconds,
)
from guardian.contracts.auth.keys import PublicKeys, as_keyring, b64d, b64e, key_id

TOKEN_PREFIX = "gt1"
_TOKEN_DOMAIN = b"guardian-token-v1."
_REQUEST_DOMAIN = "guardian-relay-request-v1"

HEADER_RELAY = "X-Guardian-Relay"
HEADER_TIMESTAMP = "X-Guardian-Timestamp"
HEADER_NONCE = "X-Guardian-Nonce"
HEADER_SIGNATURE = "X-Guardian-Signature"

NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def is_legacy_token(token: str) -> bool:
    """Whether ``token`` claims to be a ``gt1`` token (a JWT never starts so: its header is base64url JSON)."""
    return token.strip().startswith(TOKEN_PREFIX + ".")


def _sign(private_key: Ed25519PrivateKey, typ: str, claims: dict[str, object]) -> str:
    claims = {"typ": typ, "kid": key_id(private_key), **claims}
    payload = b64e(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode())
    signature = private_key.sign(_TOKEN_DOMAIN + payload.encode("ascii"))
    return f"{TOKEN_PREFIX}.{payload}.{b64e(signature)}"


def _open(token: str, keys: PublicKeys, typ: str) -> tuple[dict[str, object], str]:
    """Check format, signature and type; return the claims and the key id."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise TokenInvalid("token is not a string of sensible length")
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise TokenInvalid("token format not recognised")
    try:
        raw_claims = b64d(parts[1])
        signature = b64d(parts[2])
        claims = json.loads(raw_claims)
    except (ValueError, binascii.Error):
        raise TokenInvalid("token is not valid base64url/JSON") from None
    if not isinstance(claims, dict):
        raise TokenInvalid("token claims are not an object")
    kid = str(claims.get("kid", ""))
    key = as_keyring(keys).get(kid)
    if key is None:
        raise TokenInvalid("token signed by an unknown key")
    try:
        key.verify(signature, _TOKEN_DOMAIN + parts[1].encode("ascii"))
    except InvalidSignature:
        raise TokenInvalid("token signature does not verify") from None
    if claims.get("typ") != typ:
        raise TokenInvalid(f"not a {typ} token")
    return claims, kid


def mint_clip_token(
    private_key: Ed25519PrivateKey,
    *,
    tenant_id: str,
    device_id: str,
    event_id: str,
    scopes: Iterable[str],
    relay_url: str,
    ttl: int = CLIP_TOKEN_MAX_TTL,
    now: float | None = None,
) -> str:
    """A ``gt1`` clip token. ``ttl`` must be 1..300 s; ``scopes`` a non-empty subset of CLIP_SCOPES."""
    claims = clip_claims(
        tenant_id=tenant_id, device_id=device_id, event_id=event_id, scopes=sorted(set(scopes)),
        relay_url=relay_url, issued=now_seconds(now), ttl=ttl, nonce=secrets.token_urlsafe(16),
    )
    return _sign(private_key, "clip", claims)


def verify_clip_token(
    token: str,
    public_keys: PublicKeys,
    *,
    tenant_id: str | None = None,
    device_id: str | None = None,
    event_id: str | None = None,
    scope: str | None = None,
    now: float | None = None,
    leeway: int = 5,
) -> ClipGrant:
    """Verify a ``gt1`` clip token only: what relays of the previous release do."""
    claims, kid = _open(token, public_keys, "clip")
    return clip_grant(
        claims, kid, now=now_seconds(now), leeway=leeway,
        tenant_id=tenant_id, device_id=device_id, event_id=event_id, scope=scope,
    )


def mint_bootstrap_token(
    private_key: Ed25519PrivateKey,
    *,
    tenant_id: str,
    relay_id: str,
    ttl: int,
    label: str = "",
    nonce: str | None = None,
    now: float | None = None,
) -> str:
    """A ``gt1`` bootstrap token; the cloud stores ``nonce`` to track use and revocation."""
    claims = bootstrap_claims(
        tenant_id=tenant_id, relay_id=relay_id, label=label, issued=now_seconds(now), ttl=ttl,
        nonce=nonce or secrets.token_urlsafe(16),
    )
    return _sign(private_key, "bootstrap", claims)


def verify_bootstrap_token(
    token: str,
    public_keys: PublicKeys,
    *,
    relay_id: str | None = None,
    tenant_id: str | None = None,
    now: float | None = None,
    leeway: int = 5,
) -> BootstrapGrant:
    """Verify a ``gt1`` bootstrap token only: what relays of the previous release do."""
    claims, kid = _open(token, public_keys, "bootstrap")
    return bootstrap_grant(claims, kid, now=now_seconds(now), leeway=leeway, relay_id=relay_id, tenant_id=tenant_id)


# --- relay request signatures -----------------------------------------------------------------------


def _request_message(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([_REQUEST_DOMAIN, method.upper(), path, timestamp, nonce, digest]).encode()


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``headers[name]`` whether the mapping is case-insensitive or holds lower-case names."""
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def sign_relay_request(
    private_key: Ed25519PrivateKey,
    *,
    relay_id: str,
    method: str,
    path: str,
    body: bytes = b"",
    now: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """``X-Guardian-*`` headers for one relay → cloud request (``path`` with its query, as sent)."""
    timestamp = str(now_seconds(now))
    nonce = nonce or secrets.token_urlsafe(18)
    signature = private_key.sign(_request_message(method, path, timestamp, nonce, body))
    return {
        HEADER_RELAY: relay_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: b64e(signature),
    }


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
    """Check ``X-Guardian-*`` headers and the timestamp. Replay (the nonce) is the caller's job."""
    relay_id = header(headers, HEADER_RELAY)
    timestamp = header(headers, HEADER_TIMESTAMP)
    nonce = header(headers, HEADER_NONCE)
    signature = header(headers, HEADER_SIGNATURE)
    if not relay_id or not timestamp or not nonce or not signature:
        raise TokenInvalid("relay signature headers missing")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise TokenInvalid("relay timestamp is not unix seconds")
    if not NONCE_RE.match(nonce):
        raise TokenInvalid("relay nonce must be 16..64 url-safe characters")
    try:
        raw_signature = b64d(signature)
        public_key.verify(raw_signature, _request_message(method, path, timestamp, nonce, body))
    except (ValueError, binascii.Error, InvalidSignature):
        raise TokenInvalid("relay request signature does not verify") from None
    if abs(now_seconds(now) - int(timestamp)) > window:
        raise TokenExpired("relay request timestamp outside the accepted window")
    return SignedRequest(relay_id=relay_id, timestamp=int(timestamp), nonce=nonce)
