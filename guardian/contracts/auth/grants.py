"""What a verified token or request grants, and the claim checks both token formats share.

Claim names are the same in a ``gt1`` token and a JWT: ``tid`` tenant, ``dev`` device, ``evt`` event,
``scp`` scopes, ``url`` relay URL (clip and device); ``cam`` camera and ``stm`` stream (device); ``rly`` relay, ``lbl`` label (bootstrap); ``iat``/``exp``
(unix seconds) and ``jti`` (nonce) in both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from guardian.contracts.auth.errors import TokenExpired, TokenInvalid, TokenMismatch

#: Longest life of a clip token, in seconds; minting refuses more and verification rejects more.
CLIP_TOKEN_MAX_TTL = 300
#: What a clip token may allow.
CLIP_SCOPES = frozenset({"clip", "snapshot", "thumbnail"})
#: What a device token may allow. ``picture`` and ``live`` need a camera.
DEVICE_SCOPES = ("picture", "discover", "probe", "live")
#: The camera streams a ``live`` token may name (``stm``); without one the edge sends the sub-stream.
LIVE_STREAMS = ("sub", "main")
#: Scopes that reach one camera only, so the token must name it.
_CAMERA_SCOPES = ("picture", "live")
#: Longest life of a device token, in seconds (the same bound as clip tokens).
DEVICE_TOKEN_MAX_TTL = 300
#: Longest life of a bootstrap token (7 days).
BOOTSTRAP_TOKEN_MAX_TTL = 7 * 24 * 3600
#: Accepted clock difference for relay request timestamps, in seconds (each way).
REQUEST_WINDOW = 300
#: Tokens longer than this are refused before any parsing.
MAX_TOKEN_CHARS = 4096


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


@dataclass(frozen=True)
class DeviceGrant:
    """What a verified device token allows: ``scopes`` on ``device_id`` (``picture`` of ``camera`` only)."""

    tenant_id: str
    device_id: str
    scopes: frozenset[str]
    camera: str | None
    relay_url: str
    issued_at: int
    expires_at: int
    nonce: str
    key_id: str
    stream: str | None = None  # live only: "sub" or "main"


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


@dataclass(frozen=True)
class SignedRequest:
    """A relay request whose signature verified. The caller must still refuse a repeated ``nonce``."""

    relay_id: str
    timestamp: int
    nonce: str


def now_seconds(now: float | None) -> int:
    return int(time.time() if now is None else now)


def _str_claim(claims: Mapping[str, object], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise TokenInvalid(f"token claim {name!r} missing")
    return value


def _times(claims: Mapping[str, object], now: int, leeway: int) -> tuple[int, int]:
    """``(iat, exp)`` after checking them against ``now``; the nonce must be there too."""
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or exp <= iat:
        raise TokenInvalid("token has no valid iat/exp")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise TokenInvalid("token has no nonce")
    if now >= exp + leeway:
        raise TokenExpired("token expired")
    if iat > now + leeway:
        raise TokenExpired("token not valid yet (clock skew?)")
    return iat, exp


def clip_grant(
    claims: Mapping[str, object],
    kid: str,
    *,
    now: int,
    leeway: int,
    tenant_id: str | None,
    device_id: str | None,
    event_id: str | None,
    scope: str | None,
) -> ClipGrant:
    """The grant of signature-checked clip claims, refused when expired or not what the caller expects."""
    iat, exp = _times(claims, now, leeway)
    scopes = claims.get("scp")
    if not isinstance(scopes, list) or not scopes or not set(scopes) <= CLIP_SCOPES:
        raise TokenInvalid("token has no valid scopes")
    grant = ClipGrant(
        tenant_id=_str_claim(claims, "tid"),
        device_id=_str_claim(claims, "dev"),
        event_id=_str_claim(claims, "evt"),
        scopes=frozenset(scopes),
        relay_url=_str_claim(claims, "url"),
        issued_at=iat,
        expires_at=exp,
        nonce=_str_claim(claims, "jti"),
        key_id=kid,
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


def device_grant(
    claims: Mapping[str, object],
    kid: str,
    *,
    now: int,
    leeway: int,
    tenant_id: str | None,
    device_id: str | None,
    scope: str | None,
    camera: str | None,
) -> DeviceGrant:
    """The grant of signature-checked device claims, refused when expired or not what the caller expects."""
    iat, exp = _times(claims, now, leeway)
    scopes = claims.get("scp")
    if not isinstance(scopes, list) or not scopes or not set(scopes) <= set(DEVICE_SCOPES):
        raise TokenInvalid("token has no valid scopes")
    named = claims.get("cam")
    if named is not None and (not isinstance(named, str) or not named):
        raise TokenInvalid("token claim 'cam' is not a camera name")
    if named is None and set(scopes) & set(_CAMERA_SCOPES):
        raise TokenInvalid("a picture or live token must name its camera")
    stream = claims.get("stm")
    if stream is not None and stream not in LIVE_STREAMS:
        raise TokenInvalid("token claim 'stm' is not a camera stream")
    grant = DeviceGrant(
        tenant_id=_str_claim(claims, "tid"),
        device_id=_str_claim(claims, "dev"),
        scopes=frozenset(scopes),
        camera=named,
        relay_url=_str_claim(claims, "url"),
        issued_at=iat,
        expires_at=exp,
        nonce=_str_claim(claims, "jti"),
        key_id=kid,
        stream=stream,
    )
    if grant.expires_at - grant.issued_at > DEVICE_TOKEN_MAX_TTL:
        raise TokenInvalid("device token lives longer than allowed")
    if tenant_id is not None and grant.tenant_id != tenant_id:
        raise TokenMismatch("device token is for another tenant", "wrong_tenant")
    if device_id is not None and grant.device_id != device_id:
        raise TokenMismatch("device token is for another device", "wrong_device")
    if scope is not None and scope not in grant.scopes:
        raise TokenMismatch(f"device token does not allow {scope!r}", "wrong_scope")
    if camera is not None and grant.camera != camera:
        raise TokenMismatch("device token is for another camera", "wrong_camera")
    return grant


def bootstrap_grant(
    claims: Mapping[str, object],
    kid: str,
    *,
    now: int,
    leeway: int,
    relay_id: str | None,
    tenant_id: str | None,
) -> BootstrapGrant:
    """The grant of signature-checked bootstrap claims (single use stays the caller's job)."""
    iat, exp = _times(claims, now, leeway)
    label = claims.get("lbl", "")
    grant = BootstrapGrant(
        tenant_id=_str_claim(claims, "tid"),
        relay_id=_str_claim(claims, "rly"),
        issued_at=iat,
        expires_at=exp,
        nonce=_str_claim(claims, "jti"),
        key_id=kid,
        label=label if isinstance(label, str) else "",
    )
    if grant.expires_at - grant.issued_at > BOOTSTRAP_TOKEN_MAX_TTL:
        raise TokenInvalid("bootstrap token lives longer than allowed")
    if relay_id is not None and grant.relay_id != relay_id:
        raise TokenMismatch("bootstrap token is for another relay", "wrong_relay")
    if tenant_id is not None and grant.tenant_id != tenant_id:
        raise TokenMismatch("bootstrap token is for another tenant", "wrong_tenant")
    return grant


def clip_claims(
    *, tenant_id: str, device_id: str, event_id: str, scopes: list[str], relay_url: str, issued: int, ttl: int, nonce: str
) -> dict[str, object]:
    """The claims of a new clip token (checked like the old minting did)."""
    if not scopes or not set(scopes) <= CLIP_SCOPES:
        raise ValueError(f"scopes must be a non-empty subset of {sorted(CLIP_SCOPES)}")
    if not 0 < ttl <= CLIP_TOKEN_MAX_TTL:
        raise ValueError(f"clip token ttl must be 1..{CLIP_TOKEN_MAX_TTL} s")
    return {
        "tid": tenant_id,
        "dev": device_id,
        "evt": event_id,
        "scp": scopes,
        "url": relay_url,
        "iat": issued,
        "exp": issued + ttl,
        "jti": nonce,
    }


def device_claims(
    *, tenant_id: str, device_id: str, scopes: list[str], camera: str | None, relay_url: str, issued: int, ttl: int,
    nonce: str, stream: str | None = None,
) -> dict[str, object]:
    """The claims of a new device token."""
    if not scopes or not set(scopes) <= set(DEVICE_SCOPES):
        raise ValueError(f"scopes must be a non-empty subset of {list(DEVICE_SCOPES)}")
    if set(scopes) & set(_CAMERA_SCOPES) and not camera:
        raise ValueError("a picture or live token must name its camera")
    if stream is not None and (stream not in LIVE_STREAMS or "live" not in scopes):
        raise ValueError(f"stream is one of {list(LIVE_STREAMS)}, for a live token only")
    if not 0 < ttl <= DEVICE_TOKEN_MAX_TTL:
        raise ValueError(f"device token ttl must be 1..{DEVICE_TOKEN_MAX_TTL} s")
    claims: dict[str, object] = {
        "tid": tenant_id, "dev": device_id, "scp": scopes, "url": relay_url, "iat": issued, "exp": issued + ttl,
        "jti": nonce,
    }
    if camera:
        claims["cam"] = camera
    if stream:
        claims["stm"] = stream
    return claims


def bootstrap_claims(
    *, tenant_id: str, relay_id: str, label: str, issued: int, ttl: int, nonce: str
) -> dict[str, object]:
    """The claims of a new bootstrap token."""
    if not 0 < ttl <= BOOTSTRAP_TOKEN_MAX_TTL:
        raise ValueError(f"bootstrap token ttl must be 1..{BOOTSTRAP_TOKEN_MAX_TTL} s")
    return {"tid": tenant_id, "rly": relay_id, "lbl": label, "iat": issued, "exp": issued + ttl, "jti": nonce}
