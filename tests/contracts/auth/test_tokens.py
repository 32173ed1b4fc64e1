"""Clip and bootstrap tokens in both formats: the same grants, the same refusals; and the upgrade order
(a relay of the previous release verifies only ``gt1``, which is why the cloud mints it by default)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import jwt
import pytest

from guardian.contracts import auth
from guardian.contracts.auth import legacy

FORMATS = ["gt1", "jwt"]
KEY = auth.generate_private_key()
KEYS = auth.load_public_keys([auth.public_key_to_text(KEY)])


def _clip(token_format: str, **kwargs: object) -> str:
    values: dict[str, object] = {"tenant_id": "tenant-a", "device_id": "edge-1", "event_id": "ev-1",
                                 "scopes": ["clip"], "relay_url": "https://relay-a.example.org"}
    values.update(kwargs)
    key = values.pop("key", KEY)
    return auth.mint_clip_token(key, token_format=token_format, **values)  # type: ignore[arg-type]


def _bootstrap(token_format: str, **kwargs: object) -> str:
    values: dict[str, object] = {"tenant_id": "tenant-a", "relay_id": "relay-a", "ttl": 3600, "label": "garage"}
    values.update(kwargs)
    return auth.mint_bootstrap_token(KEY, token_format=token_format, **values)  # type: ignore[arg-type]


def _edit_claims(token: str, **changes: object) -> str:
    """The token with claims edited and the signature kept (an attacker without the key)."""
    head, claims, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    data.update(changes)
    edited = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return ".".join([head, edited, signature])


@pytest.mark.parametrize("token_format", FORMATS)
def test_clip_token_grant_and_refusals(token_format: str) -> None:
    token = _clip(token_format, scopes=["clip", "thumbnail"])
    assert token.startswith("gt1.") == (token_format == "gt1")
    grant = auth.verify_clip_token(token, KEYS, tenant_id="tenant-a", event_id="ev-1", scope="clip")
    assert (grant.device_id, grant.relay_url, grant.scopes) == (
        "edge-1", "https://relay-a.example.org", frozenset({"clip", "thumbnail"}))
    assert grant.key_id == auth.key_id(KEY) and grant.expires_at - grant.issued_at == auth.CLIP_TOKEN_MAX_TTL

    with pytest.raises(auth.TokenExpired):
        auth.verify_clip_token(token, KEYS, now=grant.expires_at + 60)
    with pytest.raises(auth.TokenExpired):
        auth.verify_clip_token(token, KEYS, now=grant.issued_at - 60)
    for wanted, reason in [({"tenant_id": "tenant-b"}, "wrong_tenant"), ({"device_id": "edge-2"}, "wrong_device"),
                           ({"event_id": "ev-2"}, "wrong_event"), ({"scope": "snapshot"}, "wrong_scope")]:
        with pytest.raises(auth.TokenMismatch) as info:
            auth.verify_clip_token(token, KEYS, **wanted)  # type: ignore[arg-type]
        assert info.value.reason == reason
    refused = [
        _edit_claims(token, evt="ev-2"),  # tampered
        _edit_claims(token, exp=grant.expires_at + 3600),  # lifetime stretched
        _clip(token_format, key=auth.generate_private_key()),  # another key
        _bootstrap(token_format),  # another kind of token
        token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),  # signature damaged
        "", "x" * 5000, "not.a.token",
    ]
    for bad in refused:
        with pytest.raises(auth.TokenInvalid):
            auth.verify_clip_token(bad, KEYS)


@pytest.mark.parametrize("token_format", FORMATS)
def test_bootstrap_token_grant_and_refusals(token_format: str) -> None:
    token = _bootstrap(token_format, nonce="nonce-0123456789abcdef")
    grant = auth.verify_bootstrap_token(token, KEYS, relay_id="relay-a", tenant_id="tenant-a")
    assert (grant.tenant_id, grant.relay_id, grant.label, grant.nonce) == (
        "tenant-a", "relay-a", "garage", "nonce-0123456789abcdef")
    with pytest.raises(auth.TokenMismatch) as info:
        auth.verify_bootstrap_token(token, KEYS, relay_id="relay-b")
    assert info.value.reason == "wrong_relay"
    with pytest.raises(auth.TokenMismatch) as info:
        auth.verify_bootstrap_token(token, KEYS, tenant_id="tenant-b")
    assert info.value.reason == "wrong_tenant"
    with pytest.raises(auth.TokenExpired):
        auth.verify_bootstrap_token(token, KEYS, now=grant.expires_at + 10)
    for bad in [_edit_claims(token, rly="relay-b"), _clip(token_format)]:
        with pytest.raises(auth.TokenInvalid):
            auth.verify_bootstrap_token(bad, KEYS)


@pytest.mark.parametrize("token_format", FORMATS)
def test_lifetimes_are_capped_when_minting(token_format: str) -> None:
    with pytest.raises(ValueError):
        _clip(token_format, ttl=auth.CLIP_TOKEN_MAX_TTL + 1)
    with pytest.raises(ValueError):
        _clip(token_format, scopes=["download"])
    with pytest.raises(ValueError):
        _bootstrap(token_format, ttl=auth.BOOTSTRAP_TOKEN_MAX_TTL + 1)


def test_jwt_is_standard_and_typed() -> None:
    """Any JWT library can read it with the published key; header and audience are checked."""
    token = _clip("jwt")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "typ": "guardian-clip+jwt", "kid": auth.key_id(KEY)}
    claims = jwt.decode(token, KEY.public_key(), algorithms=["EdDSA"], audience="guardian-relay",
                        issuer="guardian-cloud")
    assert (claims["tid"], claims["evt"], claims["scp"]) == ("tenant-a", "ev-1", ["clip"])
    now = int(time.time())
    base = {"iss": "guardian-cloud", "aud": "guardian-relay", "tid": "tenant-a", "dev": "edge-1", "evt": "ev-1",
            "scp": ["clip"], "url": "u", "iat": now, "exp": now + 60, "jti": "n"}
    kid = {"kid": auth.key_id(KEY), "typ": "guardian-clip+jwt"}
    refused = [
        jwt.encode({**base, "aud": "someone-else"}, KEY, algorithm="EdDSA", headers=kid),
        jwt.encode({**base, "iss": "someone-else"}, KEY, algorithm="EdDSA", headers=kid),
        jwt.encode(base, KEY, algorithm="EdDSA", headers={**kid, "typ": "JWT"}),
        jwt.encode(base, "a-shared-secret-of-thirty-two-bytes!", algorithm="HS256", headers=kid),
        jwt.encode(base, None, algorithm="none", headers=kid),  # type: ignore[arg-type]  # "none" takes no key
    ]
    for bad in refused:
        with pytest.raises(auth.TokenInvalid):
            auth.verify_clip_token(bad, KEYS)


def test_previous_release_relays_verify_only_gt1() -> None:
    """Why the cloud keeps minting ``gt1`` in this release: the verifier relays in the field run today."""
    cases: list[tuple[str, Callable[[str], str], Callable[[str, auth.PublicKeys], object]]] = [
        ("clip", _clip, legacy.verify_clip_token), ("bootstrap", _bootstrap, legacy.verify_bootstrap_token)]
    for kind, mint, verify in cases:
        assert verify(mint("gt1"), KEYS), kind
        with pytest.raises(auth.TokenInvalid):
            verify(mint("jwt"), KEYS)
