"""Clip tokens (valid, expired, tampered, wrong tenant), bootstrap tokens (single use, revocation), keys,
and the token format the cloud mints: ``gt1`` by default (relays of the previous release verify only
that), JWT with ``[tokens] format = "jwt"``. Token formats themselves: tests/contracts/auth."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from cloud.api.main import create_app
from guardian.contracts import auth
from guardian.contracts.auth import legacy
from tests.cloud import batches
from tests.cloud.conftest import add_relay, make_settings, signup, test_client

NOW = datetime.now(UTC).replace(microsecond=0)


def _public_keys(client):
    body = client.get("/api/v1/keys").json()
    return auth.load_public_keys(k["public_key"] for k in body["keys"])


def _setup(client, app):
    relay_a, relay_b = add_relay(app, "relay-a"), add_relay(app, "relay-b")
    a, b = signup(client, "a@a.example.org"), signup(client, "b@b.example.org")
    ev = batches.event("edge-a", "porch", "person", NOW - timedelta(minutes=1))
    no_clip = batches.event("edge-a", "porch", "cat", NOW - timedelta(minutes=2), has_clip=False)
    assert relay_a.post(client, "/api/v1/ingest", batches.batch(relay_a.id, events=[ev, no_clip])).status_code == 200
    return relay_a, relay_b, a, b, ev, no_clip


def test_clip_token_valid_expired_tampered_wrong_tenant(client, app) -> None:
    relay_a, _, a, b, ev, no_clip = _setup(client, app)
    keys = _public_keys(client)
    r = client.post(f"/api/v1/events/{ev.event_id}/clip-token", json={"scopes": ["clip"]}, headers=a.auth)
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["relay_url"] == relay_a.endpoint and issued["scopes"] == ["clip"]
    assert datetime.fromisoformat(issued["expires_at"]) - datetime.now(UTC) <= timedelta(minutes=5)

    # Valid: the relay verifies offline with the published key.
    grant = auth.verify_clip_token(issued["token"], keys, tenant_id=a.tenant_id, event_id=ev.event_id, scope="clip")
    assert (grant.device_id, grant.relay_url) == ("edge-a", relay_a.endpoint)
    with pytest.raises(auth.TokenMismatch):
        auth.verify_clip_token(issued["token"], keys, tenant_id=a.tenant_id, scope="snapshot")
    # Expired.
    with pytest.raises(auth.TokenExpired):
        auth.verify_clip_token(issued["token"], keys, tenant_id=a.tenant_id, now=grant.expires_at + 60)
    # Tampered: claims edited (another event), signature kept.
    prefix, claims, sig = issued["token"].split(".")
    data = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    data["evt"] = no_clip.event_id
    forged = ".".join([prefix, base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("="), sig])
    with pytest.raises(auth.TokenInvalid):
        auth.verify_clip_token(forged, keys)
    # Signed by another key.
    other = auth.mint_clip_token(auth.generate_private_key(), tenant_id=a.tenant_id, device_id="edge-a",
                                   event_id=ev.event_id, scopes=["clip"], relay_url=relay_a.endpoint)
    with pytest.raises(auth.TokenInvalid):
        auth.verify_clip_token(other, keys)
    # Wrong tenant: tenant B's relay refuses tenant A's token.
    with pytest.raises(auth.TokenMismatch) as info:
        auth.verify_clip_token(issued["token"], keys, tenant_id=b.tenant_id)
    assert info.value.reason == "wrong_tenant"
    # Tenant B cannot get a token for A's event; no clip → no clip scope.
    assert client.post(f"/api/v1/events/{ev.event_id}/clip-token", json={}, headers=b.auth).status_code == 404
    r = client.post(f"/api/v1/events/{no_clip.event_id}/clip-token", json={"scopes": ["clip"]}, headers=a.auth)
    assert r.status_code == 409
    r = client.post(f"/api/v1/events/{no_clip.event_id}/clip-token", json={"scopes": ["thumbnail"]}, headers=a.auth)
    assert r.status_code == 201


def test_default_tokens_verify_at_relays_of_the_previous_release(client, app) -> None:
    """Upgrade order: in this release the cloud mints ``gt1``, which the relays in the field (whose
    verifier is ``legacy``) accept; relays of this release accept it too."""
    relay_a, _, a, _, ev, _ = _setup(client, app)
    keys = _public_keys(client)
    clip = client.post(f"/api/v1/events/{ev.event_id}/clip-token", json={"scopes": ["clip"]}, headers=a.auth).json()
    boot = client.post("/api/v1/bootstrap-tokens", json={"label": "porch"}, headers=a.auth).json()
    assert clip["token"].startswith("gt1.") and boot["token"].startswith("gt1.")
    for verify in (legacy.verify_clip_token, auth.verify_clip_token):
        assert verify(clip["token"], keys, tenant_id=a.tenant_id, event_id=ev.event_id, scope="clip")
    for verify_boot in (legacy.verify_bootstrap_token, auth.verify_bootstrap_token):
        assert verify_boot(boot["token"], keys, relay_id=relay_a.id, tenant_id=a.tenant_id).nonce == boot["id"]


def test_jwt_format_when_configured(db_url, signing_key) -> None:
    """``[tokens] format = "jwt"``: the routes mint EdDSA JWTs that this release's relays verify."""
    app = create_app(make_settings(db_url, signing_key, tokens={"format": "jwt"}))
    with test_client(app) as client:
        relay_a, _, a, b, ev, _ = _setup(client, app)
        keys = _public_keys(client)
        r = client.post(f"/api/v1/events/{ev.event_id}/clip-token", json={"scopes": ["clip"]}, headers=a.auth)
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
        grant = auth.verify_clip_token(token, keys, tenant_id=a.tenant_id, event_id=ev.event_id, scope="clip")
        assert (grant.device_id, grant.relay_url) == ("edge-a", relay_a.endpoint)
        with pytest.raises(auth.TokenMismatch):
            auth.verify_clip_token(token, keys, tenant_id=b.tenant_id)
        with pytest.raises(auth.TokenInvalid):  # what a relay of the previous release would say
            legacy.verify_clip_token(token, keys)
        boot = client.post("/api/v1/bootstrap-tokens", json={"label": "porch"}, headers=a.auth).json()
        grant_b = auth.verify_bootstrap_token(boot["token"], keys, relay_id=relay_a.id, tenant_id=a.tenant_id)
        assert (grant_b.nonce, grant_b.label) == (boot["id"], "porch")


def test_bootstrap_tokens_single_use_and_revocation(client, app) -> None:
    relay_a, relay_b, a, b, *_ = _setup(client, app)
    keys = _public_keys(client)
    r = client.post("/api/v1/bootstrap-tokens", json={"label": "garage"}, headers=a.auth)
    assert r.status_code == 201
    issued = r.json()
    # Shown once: the list does not carry the token text.
    listed = client.get("/api/v1/bootstrap-tokens", headers=a.auth).json()
    assert [t["id"] for t in listed] == [issued["id"]] and "token" not in listed[0]
    # The relay verifies offline; another relay refuses it.
    grant = auth.verify_bootstrap_token(issued["token"], keys, relay_id=relay_a.id)
    assert (grant.tenant_id, grant.label, grant.nonce) == (a.tenant_id, "garage", issued["id"])
    with pytest.raises(auth.TokenMismatch):
        auth.verify_bootstrap_token(issued["token"], keys, relay_id=relay_b.id)
    with pytest.raises(auth.TokenExpired):
        auth.verify_bootstrap_token(issued["token"], keys, now=grant.expires_at + 10)
    # Single use, reported by the relay; another relay cannot consume it.
    body = json.dumps({"nonce": grant.nonce}).encode()
    assert relay_b.post(client, "/api/v1/relay/bootstrap/consume", body).status_code == 404
    assert relay_a.post(client, "/api/v1/relay/bootstrap/consume", body).status_code == 204
    again = relay_a.post(client, "/api/v1/relay/bootstrap/consume", body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "token_used"
    # Revocation: the relay learns of it.
    second = client.post("/api/v1/bootstrap-tokens", json={}, headers=a.auth).json()
    assert client.delete(f"/api/v1/bootstrap-tokens/{second['id']}", headers=b.auth).status_code == 404
    assert client.delete(f"/api/v1/bootstrap-tokens/{second['id']}", headers=a.auth).status_code == 204
    revoked = {r["nonce"] for r in relay_a.get(client, "/api/v1/relay/revocations").json()}
    assert revoked == {grant.nonce, second["id"]}
    assert relay_b.get(client, "/api/v1/relay/revocations").json() == []
    r = relay_a.post(client, "/api/v1/relay/bootstrap/consume", json.dumps({"nonce": second["id"]}).encode())
    assert r.status_code == 409 and r.json()["error"]["code"] == "token_revoked"


def test_keys_endpoint(client) -> None:
    body = client.get("/api/v1/keys").json()
    key = body["keys"][0]
    assert key["alg"] == "Ed25519" and key["jwk"]["kty"] == "OKP" and key["jwk"]["x"] == key["public_key"]
    assert key["kid"] == auth.key_id(auth.public_key_from_text(key["public_key"]))
