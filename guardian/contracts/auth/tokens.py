"""Clip and bootstrap tokens as JWTs (RFC 7519) signed with EdDSA/Ed25519 through PyJWT.

The cloud *mints* with its signing key; the relay *verifies offline* with the cloud's public keys
(``GET /api/v1/keys``). A JWT here has the header ``{"alg": "EdDSA", "typ": "guardian-clip+jwt" |
"guardian-bootstrap+jwt", "kid": <key id>}`` (explicit typing, RFC 8725 §3.11, so one kind of token
cannot pass for the other), ``iss`` ``guardian-cloud``, ``aud`` ``guardian-relay`` and the claims of
:mod:`guardian.contracts.auth.grants`. Both formats are verified here (``gt1.`` tokens by
:mod:`~guardian.contracts.auth.legacy`); which one is minted is the caller's choice (the cloud's
``[tokens] format``) so relays can be upgraded first.

Clip tokens: a browser asks the cloud for one event's media; the token, valid at most 5 minutes,
names tenant, device, event, scopes (``clip``, ``snapshot``, ``thumbnail``) and the relay URL.
Device tokens (JWT only): a browser asks the cloud for access to one device through its relay: the
latest ``picture`` of one camera, ``discover`` (ONVIF search on the device's LAN), ``probe`` (try a
stream) or ``live`` (watch one camera, optionally naming its ``stream``); valid at most 5 minutes, naming
tenant, device, scopes, the camera (for ``picture`` and ``live``) and the
relay URL. A clip token never passes for a device token nor the reverse (their ``typ`` differ).
Bootstrap tokens: shown once to an admin adding an edge; the relay checks it offline and must make it
single-use itself (remember ``grant.nonce`` until ``grant.expires_at``), then reports the use to the
cloud (``POST /api/v1/relay/bootstrap/consume``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any, Literal

import jwt

from guardian.contracts.auth import legacy
from guardian.contracts.auth.errors import TokenInvalid
from guardian.contracts.auth.grants import (
    CLIP_TOKEN_MAX_TTL,
    MAX_TOKEN_CHARS,
    BootstrapGrant,
    ClipGrant,
    DeviceGrant,
    bootstrap_claims,
    bootstrap_grant,
    clip_claims,
    clip_grant,
    device_claims,
    device_grant,
    now_seconds,
)
from guardian.contracts.auth.keys import Ed25519PrivateKey, PublicKeys, as_keyring, key_id

#: ``gt1``: the envelope relays of the previous release verify; ``jwt``: the standard one.
TokenFormat = Literal["gt1", "jwt"]

ISSUER = "guardian-cloud"
AUDIENCE = "guardian-relay"
_ALGORITHM = "EdDSA"
_TYP = {"clip": "guardian-clip+jwt", "device": "guardian-device+jwt", "bootstrap": "guardian-bootstrap+jwt"}


def _encode(private_key: Ed25519PrivateKey, typ: str, claims: dict[str, object]) -> str:
    payload = {"iss": ISSUER, "aud": AUDIENCE, **claims}
    return jwt.encode(payload, private_key, algorithm=_ALGORITHM, headers={"typ": _TYP[typ], "kid": key_id(private_key)})


def _decode(token: str, keys: PublicKeys, typ: str) -> tuple[dict[str, Any], str]:
    """Check format, signature, type, issuer and audience; return the claims and the key id.

    Times are checked afterwards, by the same code as for ``gt1`` tokens (and against the caller's
    ``now``), so PyJWT's own time checks are off.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise TokenInvalid("token is not a string of sensible length")
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise TokenInvalid("token format not recognised") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or (key := as_keyring(keys).get(kid)) is None:
        raise TokenInvalid("token signed by an unknown key")
    if header.get("typ") != _TYP[typ]:
        raise TokenInvalid(f"not a {typ} token")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[_ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["iss", "aud", "iat", "exp", "jti"], "verify_exp": False, "verify_iat": False,
                     "verify_nbf": False},
        )
    except jwt.InvalidSignatureError:
        raise TokenInvalid("token signature does not verify") from None
    except jwt.InvalidTokenError as exc:
        raise TokenInvalid(f"token refused: {exc}") from None
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
    token_format: TokenFormat = "jwt",
) -> str:
    """A clip token (cloud side). ``ttl`` must be 1..300 s; ``scopes`` a non-empty subset of CLIP_SCOPES."""
    if token_format == "gt1":
        return legacy.mint_clip_token(
            private_key, tenant_id=tenant_id, device_id=device_id, event_id=event_id, scopes=scopes,
            relay_url=relay_url, ttl=ttl, now=now,
        )
    claims = clip_claims(
        tenant_id=tenant_id, device_id=device_id, event_id=event_id, scopes=sorted(set(scopes)),
        relay_url=relay_url, issued=now_seconds(now), ttl=ttl, nonce=secrets.token_urlsafe(16),
    )
    return _encode(private_key, "clip", claims)


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
    """Verify a clip token of either format offline (relay side) and return its grant.

    Pass what you know to have it checked: ``tenant_id`` (the relay's tenant), ``device_id`` /
    ``event_id`` (from the request path) and ``scope`` (what is being fetched). Raises
    :class:`TokenInvalid` (format/signature/key/type), :class:`TokenExpired`, or :class:`TokenMismatch`.
    """
    if isinstance(token, str) and legacy.is_legacy_token(token):
        return legacy.verify_clip_token(
            token, public_keys, tenant_id=tenant_id, device_id=device_id, event_id=event_id, scope=scope,
            now=now, leeway=leeway,
        )
    claims, kid = _decode(token, public_keys, "clip")
    return clip_grant(
        claims, kid, now=now_seconds(now), leeway=leeway,
        tenant_id=tenant_id, device_id=device_id, event_id=event_id, scope=scope,
    )


def mint_device_token(
    private_key: Ed25519PrivateKey,
    *,
    tenant_id: str,
    device_id: str,
    scopes: Iterable[str],
    camera: str | None = None,
    relay_url: str,
    ttl: int,
    now: float | None = None,
    stream: str | None = None,
) -> str:
    """A device token (cloud side). ``ttl`` 1..300 s; ``scopes`` a non-empty subset of DEVICE_SCOPES;
    ``picture`` and ``live`` need ``camera`` (the camera's name on the edge); ``stream`` ("sub" or
    "main") is for ``live`` only."""
    claims = device_claims(
        tenant_id=tenant_id, device_id=device_id, scopes=sorted(set(scopes)), camera=camera, relay_url=relay_url,
        issued=now_seconds(now), ttl=ttl, nonce=secrets.token_urlsafe(16), stream=stream,
    )
    return _encode(private_key, "device", claims)


def verify_device_token(
    token: str,
    public_keys: PublicKeys,
    *,
    tenant_id: str | None = None,
    device_id: str | None = None,
    scope: str | None = None,
    camera: str | None = None,
    now: float | None = None,
    leeway: int = 5,
) -> DeviceGrant:
    """Verify a device token offline (relay side) and return its grant.

    Pass what you know to have it checked: ``tenant_id`` (the relay's), ``device_id`` and ``camera`` (from
    the request path), ``scope`` (what is being done). Raises :class:`TokenInvalid` (format, signature,
    key, type: a clip token is refused here), :class:`TokenExpired`, or :class:`TokenMismatch`
    (``wrong_tenant``, ``wrong_device``, ``wrong_scope``, ``wrong_camera``).
    """
    claims, kid = _decode(token, public_keys, "device")
    return device_grant(
        claims, kid, now=now_seconds(now), leeway=leeway, tenant_id=tenant_id, device_id=device_id, scope=scope,
        camera=camera,
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
    token_format: TokenFormat = "jwt",
) -> str:
    """A bootstrap token (cloud side); the cloud stores ``nonce`` to track use and revocation."""
    if token_format == "gt1":
        return legacy.mint_bootstrap_token(
            private_key, tenant_id=tenant_id, relay_id=relay_id, ttl=ttl, label=label, nonce=nonce, now=now
        )
    claims = bootstrap_claims(
        tenant_id=tenant_id, relay_id=relay_id, label=label, issued=now_seconds(now), ttl=ttl,
        nonce=nonce or secrets.token_urlsafe(16),
    )
    return _encode(private_key, "bootstrap", claims)


def verify_bootstrap_token(
    token: str,
    public_keys: PublicKeys,
    *,
    relay_id: str | None = None,
    tenant_id: str | None = None,
    now: float | None = None,
    leeway: int = 5,
) -> BootstrapGrant:
    """Verify a bootstrap token of either format offline (relay side). Single use is the caller's job."""
    if isinstance(token, str) and legacy.is_legacy_token(token):
        return legacy.verify_bootstrap_token(
            token, public_keys, relay_id=relay_id, tenant_id=tenant_id, now=now, leeway=leeway
        )
    claims, kid = _decode(token, public_keys, "bootstrap")
    return bootstrap_grant(claims, kid, now=now_seconds(now), leeway=leeway, relay_id=relay_id, tenant_id=tenant_id)
