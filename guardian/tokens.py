"""Ed25519-signed tokens and relay request signatures shared by the cloud and the relay.

The cloud *mints*, the relay *verifies offline* with the cloud's public key (served by the cloud at
``GET /api/v1/keys``; configure it on the relay). Nothing here touches the network or a database, and
only :mod:`cryptography` is needed, so ``agents/relay`` can import this module without ``cloud``.

Three things live here:

1. **Clip tokens** (:func:`mint_clip_token`, :func:`verify_clip_token`): a browser asks the cloud for
   access to one event's media; the cloud answers with a token valid at most 5 minutes naming tenant,
   device, event, what may be fetched (``clip``, ``snapshot``, ``thumbnail``) and the relay URL to fetch
   it from. The relay checks the token before proxying to the edge::

       from guardian import tokens
       keys = tokens.load_public_keys(["<cloud public key text>"])
       grant = tokens.verify_clip_token(tok, keys, tenant_id=MY_TENANT, scope="clip")
       # grant.device_id, grant.event_id, grant.relay_url, grant.expires_at ...

2. **Bootstrap tokens** (:func:`mint_bootstrap_token`, :func:`verify_bootstrap_token`): an admin adds a
   new edge device; the cloud shows a token once. The edge presents it to its relay, which verifies it
   offline (:func:`verify_bootstrap_token` with ``relay_id=`` its own id) and must then make it
   single-use itself: remember ``grant.nonce`` until ``grant.expires_at`` and refuse it a second time.
   When online, the relay also reports the use to the cloud (``POST /api/v1/relay/bootstrap/consume``,
   a signed relay request with ``{"nonce": …}``), which answers 409 if it was used or revoked.
   Revoked nonces are listed for relays at ``GET /api/v1/relay/revocations``.

3. **Relay request signatures** (:func:`sign_relay_request`, :func:`verify_relay_request`): every
   relay → cloud call (e.g. ``POST /api/v1/ingest``) carries these headers, made with the relay's own
   Ed25519 private key, whose public half the operator registered in the cloud::

       X-Guardian-Relay:      <relay id>
       X-Guardian-Timestamp:  <unix seconds>
       X-Guardian-Nonce:      <random, 16..64 url-safe chars>
       X-Guardian-Signature:  <base64url Ed25519 signature>

   over ``guardian-relay-request-v1\\n{METHOD}\\n{path?query}\\n{timestamp}\\n{nonce}\\n{sha256hex(body)}``.
   The cloud accepts a timestamp within ±300 s and each nonce once per relay. With httpx::

       body = json_format.MessageToJson(batch).encode()
       headers = tokens.sign_relay_request(relay_key, relay_id=RID, method="POST",
                                           path="/api/v1/ingest", body=body)
       httpx.post(CLOUD + "/api/v1/ingest", content=body,
                  headers={**headers, "Content-Type": "application/json"})

Token text format: ``gt1.<base64url(canonical JSON claims)>.<base64url(Ed25519 signature)>``; the
signature covers ``b"guardian-token-v1." + <claims part>``. Claims always hold ``typ`` (``clip`` or
``bootstrap``), ``kid`` (the signing key's id), ``iat``, ``exp`` (unix seconds) and ``jti`` (nonce).
Keys travel as base64url of the raw 32 bytes (private: the seed; public: the point).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from guardian.runtime.errors import GuardianError

TOKEN_PREFIX = "gt1"
_TOKEN_DOMAIN = b"guardian-token-v1."
_REQUEST_DOMAIN = "guardian-relay-request-v1"

#: Longest life of a clip token, in seconds; minting refuses more and verification rejects more.
CLIP_TOKEN_MAX_TTL = 300
#: What a clip token may allow.
CLIP_SCOPES = frozenset({"clip", "snapshot", "thumbnail"})
#: Longest life of a bootstrap token (7 days).
BOOTSTRAP_TOKEN_MAX_TTL = 7 * 24 * 3600
#: Accepted clock difference for relay request timestamps, in seconds (each way).
REQUEST_WINDOW = 300

HEADER_RELAY = "X-Guardian-Relay"
HEADER_TIMESTAMP = "X-Guardian-Timestamp"
HEADER_NONCE = "X-Guardian-Nonce"
HEADER_SIGNATURE = "X-Guardian-Signature"

_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_MAX_TOKEN_CHARS = 4096


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


# --- keys -------------------------------------------------------------------------------------------


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_private_key() -> Ed25519PrivateKey:
    """A new Ed25519 private key (for the cloud's token signing key or a relay's request key)."""
    return Ed25519PrivateKey.generate()


def private_key_to_text(key: Ed25519PrivateKey) -> str:
    """base64url of the 32-byte seed. This is a secret: store it as a credential, never log it."""
    return _b64e(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))


def private_key_from_text(text: str) -> Ed25519PrivateKey:
    """Inverse of :func:`private_key_to_text`; raises ``ValueError`` if it is not 32 bytes of base64url."""
    try:
        raw = _b64d(text.strip())
    except (ValueError, binascii.Error):
        raise ValueError("private key is not base64url") from None
    if len(raw) != 32:
        raise ValueError("private key must be 32 bytes (base64url of the raw Ed25519 seed)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_to_text(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """base64url of the raw 32-byte public key (accepts a private key and takes its public half)."""
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return _b64e(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """Inverse of :func:`public_key_to_text`; raises ``ValueError`` when malformed."""
    try:
        raw = _b64d(text.strip())
    except (ValueError, binascii.Error):
        raise ValueError("public key is not base64url") from None
    if len(raw) != 32:
        raise ValueError("public key must be 32 bytes (base64url of the raw Ed25519 key)")
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Short stable id of a key: the first 8 bytes of SHA-256 of the raw public key, base64url."""
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return _b64e(hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).digest()[:8])


def load_public_keys(texts: Iterable[str]) -> dict[str, Ed25519PublicKey]:
    """Public keys (base64url text, e.g. from the cloud's ``/api/v1/keys``) indexed by :func:`key_id`.

    Several keys may be trusted at once so the cloud can rotate its signing key.
    """
    keys = {}
    for text in texts:
        key = public_key_from_text(text)
        keys[key_id(key)] = key
    return keys


PublicKeys = Mapping[str, Ed25519PublicKey] | Ed25519PublicKey


def _as_keyring(keys: PublicKeys) -> Mapping[str, Ed25519PublicKey]:
    if isinstance(keys, Ed25519PublicKey):
        return {key_id(keys): keys}
    return keys


# --- generic signed tokens --------------------------------------------------------------------------


def _now(now: float | None) -> int:
    return int(time.time() if now is None else now)


def _sign(private_key: Ed25519PrivateKey, claims: dict[str, object]) -> str:
    payload = _b64e(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode())
    signature = private_key.sign(_TOKEN_DOMAIN + payload.encode("ascii"))
    return f"{TOKEN_PREFIX}.{payload}.{_b64e(signature)}"


def _open(token: str, keys: PublicKeys, typ: str, now: int, leeway: int) -> dict[str, object]:
    """Check format, signature, type and time; return the claims."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
        raise TokenInvalid("token is not a string of sensible length")
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise TokenInvalid("token format not recognised")
    try:
        raw_claims = _b64d(parts[1])
        signature = _b64d(parts[2])
        claims = json.loads(raw_claims)
    except (ValueError, binascii.Error):
        raise TokenInvalid("token is not valid base64url/JSON") from None
    if not isinstance(claims, dict):
        raise TokenInvalid("token claims are not an object")
    key = _as_keyring(keys).get(str(claims.get("kid", "")))
    if key is None:
        raise TokenInvalid("token signed by an unknown key")
    try:
        key.verify(signature, _TOKEN_DOMAIN + parts[1].encode("ascii"))
    except InvalidSignature:
        raise TokenInvalid("token signature does not verify") from None
    if claims.get("typ") != typ:
        raise TokenInvalid(f"not a {typ} token")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or exp <= iat:
        raise TokenInvalid("token has no valid iat/exp")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise TokenInvalid("token has no nonce")
    if now >= exp + leeway:
        raise TokenExpired("token expired")
    if iat > now + leeway:
        raise TokenExpired("token not valid yet (clock skew?)")
    return claims


def _str_claim(claims: Mapping[str, object], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise TokenInvalid(f"token claim {name!r} missing")
    return value


# --- clip tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipGrant:
    """What a verified clip token allows: fetching ``scopes`` of ``event_id`` from ``device_id``."""

    tenant_id: str
    device_id: str
    event_id: str
    scopes: frozenset[str]
    relay_url: str
    issued_at: int
    expires_at: int
    nonce: str
    key_id: str


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
    """A clip token (cloud side). ``ttl`` must be 1..300 s; ``scopes`` a non-empty subset of CLIP_SCOPES."""
    scope_list = sorted(set(scopes))
    if not scope_list or not set(scope_list) <= CLIP_SCOPES:
        raise ValueError(f"scopes must be a non-empty subset of {sorted(CLIP_SCOPES)}")
    if not 0 < ttl <= CLIP_TOKEN_MAX_TTL:
        raise ValueError(f"clip token ttl must be 1..{CLIP_TOKEN_MAX_TTL} s")
    issued = _now(now)
    return _sign(
        private_key,
        {
            "typ": "clip",
            "kid": key_id(private_key),
            "tid": tenant_id,
            "dev": device_id,
            "evt": event_id,
            "scp": scope_list,
            "url": relay_url,
            "iat": issued,
            "exp": issued + ttl,
            "jti": secrets.token_urlsafe(16),
        },
    )


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
    """Verify a clip token offline (relay side) and return its grant.

    Pass what you know to have it checked: ``tenant_id`` (the relay's tenant), ``device_id`` /
    ``event_id`` (from the request path) and ``scope`` (what is being fetched). Raises
    :class:`TokenInvalid` (format/signature/key/type), :class:`TokenExpired`, or :class:`TokenMismatch`.
    """
    claims = _open(token, public_keys, "clip", _now(now), leeway)
    scopes = claims.get("scp")
    if not isinstance(scopes, list) or not scopes or not set(scopes) <= CLIP_SCOPES:
        raise TokenInvalid("token has no valid scopes")
    grant = ClipGrant(
        tenant_id=_str_claim(claims, "tid"),
        device_id=_str_claim(claims, "dev"),
        event_id=_str_claim(claims, "evt"),
        scopes=frozenset(scopes),
        relay_url=_str_claim(claims, "url"),
        issued_at=int(claims["iat"]),  # type: ignore[call-overload]
        expires_at=int(claims["exp"]),  # type: ignore[call-overload]
        nonce=_str_claim(claims, "jti"),
        key_id=_str_claim(claims, "kid"),
    )
    if grant.expires_at - grant.issued_at > CLIP_TOKEN_MAX_TTL:
        raise TokenInvalid("clip token lives longer than allowed")
    if tenant_id is not None and grant.tenant_id != tenant_id:
        raise TokenMismatch("clip token is for another tenant", "wrong_tenant")
    if device_id is not None and grant.device_id != device_id:
        raise TokenMismatch("clip token is for another device", "wrong_device")
    if event_id is not None and grant.event_id != event_id:
        raise TokenMismatch("clip token is for another event", "wrong_event")
    if scope is not None and scope not in grant.scopes:
        raise TokenMismatch(f"clip token does not allow {scope!r}", "wrong_scope")
    return grant


# --- bootstrap tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapGrant:
    """A verified bootstrap token: a new device may enrol with ``relay_id`` for ``tenant_id`` once."""

    tenant_id: str
    relay_id: str
    issued_at: int
    expires_at: int
    nonce: str
    key_id: str
    label: str


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
    """A bootstrap token (cloud side); the cloud stores ``nonce`` to track use and revocation."""
    if not 0 < ttl <= BOOTSTRAP_TOKEN_MAX_TTL:
        raise ValueError(f"bootstrap token ttl must be 1..{BOOTSTRAP_TOKEN_MAX_TTL} s")
    issued = _now(now)
    return _sign(
        private_key,
        {
            "typ": "bootstrap",
            "kid": key_id(private_key),
            "tid": tenant_id,
            "rly": relay_id,
            "lbl": label,
            "iat": issued,
            "exp": issued + ttl,
            "jti": nonce or secrets.token_urlsafe(16),
        },
    )


def verify_bootstrap_token(
    token: str,
    public_keys: PublicKeys,
    *,
    relay_id: str | None = None,
    tenant_id: str | None = None,
    now: float | None = None,
    leeway: int = 5,
) -> BootstrapGrant:
    """Verify a bootstrap token offline (relay side). Single use is the caller's job (see module doc)."""
    claims = _open(token, public_keys, "bootstrap", _now(now), leeway)
    label = claims.get("lbl", "")
    grant = BootstrapGrant(
        tenant_id=_str_claim(claims, "tid"),
        relay_id=_str_claim(claims, "rly"),
        issued_at=int(claims["iat"]),  # type: ignore[call-overload]
        expires_at=int(claims["exp"]),  # type: ignore[call-overload]
        nonce=_str_claim(claims, "jti"),
        key_id=_str_claim(claims, "kid"),
        label=label if isinstance(label, str) else "",
    )
    if relay_id is not None and grant.relay_id != relay_id:
        raise TokenMismatch("bootstrap token is for another relay", "wrong_relay")
    if tenant_id is not None and grant.tenant_id != tenant_id:
        raise TokenMismatch("bootstrap token is for another tenant", "wrong_tenant")
    return grant


# --- relay request signatures -----------------------------------------------------------------------


def _request_message(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([_REQUEST_DOMAIN, method.upper(), path, timestamp, nonce, digest]).encode()


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
    """Headers that authenticate one relay → cloud request. ``path`` includes the query string if any,
    exactly as sent (e.g. ``/api/v1/ingest``); ``body`` is the exact bytes sent."""
    timestamp = str(_now(now))
    nonce = nonce or secrets.token_urlsafe(18)
    signature = private_key.sign(_request_message(method, path, timestamp, nonce, body))
    return {
        HEADER_RELAY: relay_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: _b64e(signature),
    }


@dataclass(frozen=True)
class SignedRequest:
    """A relay request whose signature verified. The caller must still refuse a repeated ``nonce``."""

    relay_id: str
    timestamp: int
    nonce: str


def relay_id_of(headers: Mapping[str, str]) -> str | None:
    """The claimed relay id (unverified), to look up its public key before :func:`verify_relay_request`."""
    return _header(headers, HEADER_RELAY)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


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
    """Check a relay request's signature and timestamp (cloud side). Replay (the nonce) is the caller's."""
    relay_id = _header(headers, HEADER_RELAY)
    timestamp = _header(headers, HEADER_TIMESTAMP)
    nonce = _header(headers, HEADER_NONCE)
    signature = _header(headers, HEADER_SIGNATURE)
    if not relay_id or not timestamp or not nonce or not signature:
        raise TokenInvalid("relay signature headers missing")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise TokenInvalid("relay timestamp is not unix seconds")
    if not _NONCE_RE.match(nonce):
        raise TokenInvalid("relay nonce must be 16..64 url-safe characters")
    try:
        raw_signature = _b64d(signature)
        public_key.verify(raw_signature, _request_message(method, path, timestamp, nonce, body))
    except (ValueError, binascii.Error, InvalidSignature):
        raise TokenInvalid("relay request signature does not verify") from None
    if abs(_now(now) - int(timestamp)) > window:
        raise TokenExpired("relay request timestamp outside the accepted window")
    return SignedRequest(relay_id=relay_id, timestamp=int(timestamp), nonce=nonce)
