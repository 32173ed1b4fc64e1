"""The upgrade order of tokens and request signatures (docs/tokens.md), with the real programs.

This release's relays verify ``gt1`` and JWT tokens and its cloud accepts ``X-Guardian-*`` and RFC 9421
signatures, while the cloud keeps minting ``gt1`` and relays keep sending ``X-Guardian-*`` by default:

- an edge enrolled with a ``gt1`` bootstrap token stays enrolled and served when its relay is upgraded
  (this release's relay restarted on the state the old one left), and a ``gt1`` token minted before the
  upgrade enrols once afterwards, not twice;
- with ``[tokens] format = "jwt"`` the real cloud's routes mint a clip token the real relay's media
  endpoint serves and a bootstrap token its enrolment accepts;
- a relay upgraded before its cloud signs what the previous cloud checks; switched to RFC 9421 it
  ingests through the real cloud app.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agents.relay.cache import EventCache
from agents.relay.config import CloudSettings, HealthSettings
from agents.relay.db import open_database
from agents.relay.forwarder import CloudClient, Forwarder
from agents.relay.health import HealthMonitor
from agents.relay.registry import Registry
from guardian.contracts import auth
from guardian.contracts.auth import legacy
from guardian.contracts.edge.v1 import uplink_pb2
from guardian.runtime.metrics import AgentMetrics
from tests.cloud import batches
from tests.cloud.servers import serve
from tests.relay.cloud_real import TenantAdmin, app_for, cloud_settings, prepare
from tests.relay.netlab import make_event
from tests.relay.tlsstack import RELAY_ID, TENANT, TlsStack, wait_for

pytestmark = pytest.mark.slow

CLIP = os.urandom(200_000) + b"GUARDIAN-END"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[TlsStack]:
    st = TlsStack(tmp_path / "tlsstack")
    try:
        yield st
    finally:
        st.close()
        for name in st.logs:
            print(f"===== {name} =====\n{st.log_tail(name, 40)}")


def _gt1_bootstrap(stack: TlsStack, label: str) -> str:
    """A bootstrap token as the cloud of the previous release minted it."""
    return legacy.mint_bootstrap_token(stack.token_key, tenant_id=TENANT, relay_id=RELAY_ID, ttl=3600, label=label)


def test_edge_enrolled_before_the_upgrade_keeps_working(stack: TlsStack, tmp_path: Path) -> None:
    # Before: the edge enrolled with a gt1 token; another gt1 token was minted and not used yet.
    unused_gt1 = _gt1_bootstrap(stack, "minted before the upgrade")
    stack.start_relay()
    enrolled = stack.enrol(_gt1_bootstrap(stack, "porch"))
    assert enrolled.returncode == 0, enrolled.stderr
    device_id = stack.device_id
    before = stack.add_event(CLIP)
    stack.start_edge()
    wait_for(lambda: before in stack.relay_events(), 30, "the event at the relay")

    # The upgrade: this release's relay restarts on the same state; the edge reconnects by itself.
    stack.stop("relay")
    stack.start_relay()
    after = stack.add_event(CLIP)
    wait_for(lambda: after in stack.relay_events(), 60, "an event sent after the relay's upgrade")
    assert stack.device_id == device_id

    # The cloud, switched to JWT: it learns the event from the relay and mints the browser's clip token.
    relay_key = auth.generate_private_key()
    values = {**cloud_settings(tmp_path / "cloud.db", stack.token_key), "tokens": {"format": "jwt"}}
    prepare(values, tenant_id=TENANT, relay_id=RELAY_ID, relay_public_key=auth.public_key_to_text(relay_key),
            relay_url=stack.relay_url)
    relay_tls = ssl.create_default_context(cafile=str(stack.ca_cert))
    with serve(app_for(values)) as url, httpx.Client(base_url=url) as cloud, \
            httpx.Client(verify=relay_tls, timeout=20) as browser:
        body = batches.batch(RELAY_ID, events=[batches.event(device_id, "front", "person",
                                                             datetime.now(UTC) - timedelta(seconds=30),
                                                             event_id=after)])
        headers = auth.sign_relay_request(relay_key, relay_id=RELAY_ID, method="POST", path="/api/v1/ingest",
                                          body=body, scheme="rfc9421")
        assert cloud.post("/api/v1/ingest", content=body, headers=headers).status_code == 200
        admin = TenantAdmin(cloud)
        issued = cloud.post(f"/api/v1/events/{after}/clip-token", json={"scopes": ["clip"]}, headers=admin.headers)
        assert issued.status_code == 201, issued.text
        jwt_clip = issued.json()["token"]
        assert not jwt_clip.startswith("gt1.")
        media = f"{stack.relay_url}/media/v1/events/{after}/clip.mp4"
        assert browser.get(media, params={"token": jwt_clip}).content == CLIP
        # A gt1 clip token (what the cloud mints by default) is served too, for the event from before.
        gt1_clip = legacy.mint_clip_token(stack.token_key, tenant_id=TENANT, device_id=device_id, event_id=before,
                                          scopes=["clip"], relay_url=stack.relay_url)
        assert browser.get(f"{stack.relay_url}/media/v1/events/{before}/clip.mp4",
                           params={"token": gt1_clip}).content == CLIP
        # Refused alike: a JWT for another scope, or tampered.
        refused = browser.get(media.replace("clip.mp4", "snapshot.jpg"), params={"token": jwt_clip})
        assert (refused.status_code, refused.json()["error"]) == (403, "wrong_scope")
        head, claims, signature = jwt_clip.split(".")
        refused = browser.get(media, params={"token": f"{head}.{claims}.{signature[::-1]}"})
        assert (refused.status_code, refused.json()["error"]) == (401, "token_invalid")

        # The cloud's JWT bootstrap token enrols at the relay (here: the same edge, re-enrolling).
        jwt_boot = admin.issue_token("garage")["token"]
        assert not jwt_boot.startswith("gt1.")
        again = stack.enrol(jwt_boot)
        assert again.returncode == 0, again.stderr
        assert stack.device_id == device_id

    # The gt1 token minted before the upgrade: once, not twice.
    first = stack.enrol(unused_gt1)
    assert first.returncode == 0, first.stderr
    second = stack.enrol(unused_gt1)
    assert second.returncode == 78 and "(token_used)" in second.stderr, second.stderr


def _wg_public_key() -> str:
    raw = X25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def test_default_relay_signatures_are_what_the_previous_cloud_checks() -> None:
    settings = CloudSettings(relay_id=RELAY_ID, tenant_id=TENANT)
    assert settings.request_signature == "legacy"
    key = auth.generate_private_key()
    client = CloudClient(settings, key)
    try:
        headers = client.sign("POST", "/api/v1/ingest", b"{}")
        signed = legacy.verify_relay_request(headers, key.public_key(), method="POST", path="/api/v1/ingest", body=b"{}")
        assert signed.relay_id == RELAY_ID
    finally:
        asyncio.run(client.close())


@pytest.mark.parametrize("scheme", ["legacy", "rfc9421"])
def test_relay_ingests_through_the_real_cloud(tmp_path: Path, scheme: str) -> None:
    """The relay's real registry, forwarder and client against the real cloud app (default token format)."""
    token_key, relay_key = auth.generate_private_key(), auth.generate_private_key()
    values = cloud_settings(tmp_path / "cloud.db", token_key)
    prepare(values, tenant_id=TENANT, relay_id=RELAY_ID, relay_public_key=auth.public_key_to_text(relay_key),
            relay_url="https://relay.example.org")
    engine, sessions = open_database(tmp_path / "relay.db")
    registry = Registry(sessions, tenant_id=TENANT, relay_id=RELAY_ID,
                        token_keys=auth.load_public_keys([auth.public_key_to_text(token_key)]),
                        network="10.77.0.0/24", relay_address="10.77.0.1")
    with serve(app_for(values)) as url, httpx.Client(base_url=url) as http:
        admin = TenantAdmin(http)
        issued = admin.issue_token("porch")
        assert issued["token"].startswith("gt1.")  # the cloud's default in this release
        device = registry.enrol(issued["token"], _wg_public_key())
        settings = CloudSettings(url=url, relay_id=RELAY_ID, tenant_id=TENANT, request_signature=scheme)

        async def scenario() -> None:
            metrics = AgentMetrics("relay")
            client = CloudClient(settings, relay_key)
            try:
                signed = client.sign("GET", "/api/v1/relay/revocations")
                assert ("Signature" in signed) == (scheme == "rfc9421")
                cache = EventCache(sessions, timedelta(days=1), timedelta(hours=1))
                cache.store(device.device_id, [uplink_pb2.UplinkMessage(message_id=1, event=make_event())])
                forwarder = Forwarder(settings, cache, HealthMonitor(sessions, HealthSettings(), metrics), client,
                                      metrics)
                assert await forwarder.run_once() == 1
                await forwarder.report_consumed_tokens()
                feed = await client.get("/api/v1/relay/revocations")
                assert feed.status_code == 200, feed.text
                assert [r["nonce"] for r in feed.json() if r["kind"] == "bootstrap_token"] == [issued["id"]]
            finally:
                await client.close()

        asyncio.run(scenario())
        assert admin.devices() == [device.device_id]
    engine.dispose()
