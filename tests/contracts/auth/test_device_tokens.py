"""Device tokens (camera pictures, discovery and probes through the relay): what they grant, what they
refuse, and that a clip token never passes for one (nor the reverse)."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from guardian.contracts import auth

KEY = auth.generate_private_key()
KEYS = auth.load_public_keys([auth.public_key_to_text(KEY)])
RELAY = "https://relay-a.example.org"


def _device(**kwargs: object) -> str:
    values: dict[str, object] = {"tenant_id": "tenant-a", "device_id": "edge-1", "scopes": ["picture"],
                                 "camera": "front", "relay_url": RELAY, "ttl": 120}
    values.update(kwargs)
    key = values.pop("key", KEY)
    return auth.mint_device_token(key, **values)  # type: ignore[arg-type]


def test_grant_names_tenant_device_camera_and_scopes() -> None:
    token = _device(scopes=["picture", "probe"])
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "typ": "guardian-device+jwt", "kid": auth.key_id(KEY)}
    grant = auth.verify_device_token(token, KEYS, tenant_id="tenant-a", device_id="edge-1", scope="picture",
                                     camera="front")
    assert (grant.device_id, grant.camera, grant.relay_url, grant.scopes) == (
        "edge-1", "front", RELAY, frozenset({"picture", "probe"}))
    assert grant.expires_at - grant.issued_at == 120 and grant.key_id == auth.key_id(KEY)
    # Discovery needs no camera.
    assert auth.verify_device_token(_device(scopes=["discover"], camera=None), KEYS, scope="discover").camera is None


def test_refusals_say_why() -> None:
    token = _device()
    grant = auth.verify_device_token(token, KEYS)
    with pytest.raises(auth.TokenExpired):
        auth.verify_device_token(token, KEYS, now=grant.expires_at + 60)
    with pytest.raises(auth.TokenExpired):
        auth.verify_device_token(token, KEYS, now=grant.issued_at - 60)
    for wanted, reason in [({"tenant_id": "tenant-b"}, "wrong_tenant"), ({"device_id": "edge-2"}, "wrong_device"),
                           ({"scope": "discover"}, "wrong_scope"), ({"camera": "back"}, "wrong_camera")]:
        with pytest.raises(auth.TokenMismatch) as info:
            auth.verify_device_token(token, KEYS, **wanted)  # type: ignore[arg-type]
        assert info.value.reason == reason
    with pytest.raises(auth.TokenInvalid):
        auth.verify_device_token(_device(key=auth.generate_private_key()), KEYS)


def test_clip_and_device_tokens_do_not_stand_in_for_each_other() -> None:
    clip = auth.mint_clip_token(KEY, tenant_id="tenant-a", device_id="edge-1", event_id="ev-1", scopes=["snapshot"],
                                relay_url=RELAY)
    with pytest.raises(auth.TokenInvalid, match="not a device token"):
        auth.verify_device_token(clip, KEYS)
    with pytest.raises(auth.TokenInvalid, match="not a clip token"):
        auth.verify_clip_token(_device(), KEYS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"scopes": []}, "scopes"), ({"scopes": ["clip"]}, "scopes"), ({"scopes": ["live"], "camera": None}, "camera"),
     ({"scopes": ["live"], "stream": "best"}, "stream"), ({"stream": "main"}, "stream"),
     ({"camera": None}, "camera"), ({"ttl": 0}, "ttl"), ({"ttl": 301}, "ttl")],
)
def test_minting_refuses_what_verification_would(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _device(**kwargs)


def test_a_live_token_names_its_camera_and_stream() -> None:
    grant = auth.verify_device_token(_device(scopes=["live"], stream="main"), KEYS, scope="live", camera="front")
    assert (grant.scopes, grant.camera, grant.stream) == (frozenset({"live"}), "front", "main")
    assert auth.verify_device_token(_device(scopes=["live"]), KEYS, scope="live").stream is None  # the edge: sub
    with pytest.raises(auth.TokenMismatch, match="live"):
        auth.verify_device_token(_device(), KEYS, scope="live")  # a picture token is not a live one
    for claims in ({"scp": ["live"], "cam": None}, {"scp": ["live"], "stm": "best"}):
        with pytest.raises(auth.TokenInvalid):
            auth.verify_device_token(_forged(**claims), KEYS, now=1_800_000_010)


def _forged(**claims: object) -> str:
    """A token the cloud's key signed with claims minting would refuse (a buggy or older minter)."""
    now = int(claims.pop("now", 1_800_000_000))  # type: ignore[call-overload]
    payload = {"iss": "guardian-cloud", "aud": "guardian-relay", "tid": "tenant-a", "dev": "edge-1",
               "scp": ["picture"], "cam": "front", "url": RELAY, "iat": now, "exp": now + 60, "jti": "n", **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, KEY, algorithm="EdDSA", headers={"typ": "guardian-device+jwt", "kid": auth.key_id(KEY)})


@pytest.mark.parametrize(
    "claims",
    [{"cam": None}, {"scp": ["picture", "clip"]}, {"scp": []}, {"exp": 1_800_000_000 + 3600}, {"cam": 7}],
    ids=["picture-without-camera", "foreign-scope", "no-scope", "too-long", "camera-not-text"],
)
def test_verification_refuses_bad_claims_even_when_signed(claims: dict[str, object]) -> None:
    with pytest.raises(auth.TokenInvalid):
        auth.verify_device_token(_forged(**claims), KEYS, now=1_800_000_010)
    assert auth.verify_device_token(_forged(), KEYS, now=1_800_000_010).camera == "front"  # the unforged one passes


def test_edited_claims_break_the_signature() -> None:
    head, claims, signature = _device().split(".")
    data = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    data["cam"] = "back"
    edited = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    with pytest.raises(auth.TokenInvalid):
        auth.verify_device_token(".".join([head, edited, signature]), KEYS)
