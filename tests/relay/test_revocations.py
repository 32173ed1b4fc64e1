"""Revocations between the cloud and the relay, in one process: the real cloud app (SQLite, uvicorn in a thread), the relay's
real database, registry, forwarder and revocation poller talking to it over HTTP with signed requests.

The whole path through WireGuard (peer removed, uplink refused, relay restart) is in
test_cloud_revocations.py; this one checks what is applied, idempotency, the metrics, a bad signature,
and that an outage is survived and recovered from.
"""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agents.relay.cache import EventCache
from agents.relay.config import CloudSettings, HealthSettings
from agents.relay.db import open_database
from agents.relay.db.tables import Device, RevokedToken
from agents.relay.errors import EnrolmentRefused
from agents.relay.forwarder import CloudClient, Forwarder
from agents.relay.health import HealthMonitor
from agents.relay.registry import Enrolled, Registry, revoke_device
from agents.relay.revocations import RevocationFeedError, RevocationPoller, parse_revocations
from guardian.contracts import auth
from guardian.contracts.edge.v1 import uplink_pb2
from guardian.runtime.metrics import AgentMetrics
from tests.cloud.conftest import free_port
from tests.cloud.servers import serve
from tests.relay.cloud_real import TenantAdmin, app_for, cloud_settings, prepare
from tests.relay.netlab import make_event

TENANT = "tenant-a"
RELAY_ID = "relay-a"


def _wg_public_key() -> str:
    raw = X25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _sample(metrics: AgentMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(f"guardian_relay_revocations_{name}", labels)
    return 0.0 if value is None else value


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Relay:
    """The relay's pieces that take part, on one database file (re-opened to mimic a restart)."""

    def __init__(self, db: Path, token_key: auth.Ed25519PrivateKey) -> None:
        self.db = db
        self.token_key = token_key
        self.open()

    def open(self) -> None:
        self.engine, self.sessions = open_database(self.db)
        self.registry = Registry(
            self.sessions, tenant_id=TENANT, relay_id=RELAY_ID,
            token_keys=auth.load_public_keys([auth.public_key_to_text(self.token_key)]),
            network="10.77.0.0/24", relay_address="10.77.0.1",
        )

    def device(self, device_id: str) -> Device:
        with self.sessions() as session:
            device = session.get(Device, device_id)
            assert device is not None
            return device

    def revoked_tokens(self) -> list[tuple[str, object]]:
        with self.sessions() as session:
            return [(r.nonce, r.expires_at) for r in session.query(RevokedToken).order_by(RevokedToken.nonce)]


def _cloud_and_relay(tmp_path: Path) -> tuple[dict[str, object], Ed25519PrivateKey, Relay]:
    """A cloud database with the tenant and this relay registered (its signing key), and the relay's own
    database trusting the cloud's token key."""
    token_key, relay_key = auth.generate_private_key(), auth.generate_private_key()
    values = cloud_settings(tmp_path / "cloud.db", token_key)
    prepare(values, tenant_id=TENANT, relay_id=RELAY_ID, relay_public_key=auth.public_key_to_text(relay_key),
            relay_url="https://relay-a.example.org")
    return values, relay_key, Relay(tmp_path / "relay.db", token_key)


async def _devices_in_feed(client: CloudClient) -> list[str]:
    """The device ids the cloud's revocation list names to this relay."""
    feed = await client.get("/api/v1/relay/revocations")
    assert feed.status_code == 200, feed.text
    return [r["device_id"] for r in feed.json() if r["kind"] == "device"]


def _settings(url: str) -> CloudSettings:
    return CloudSettings(url=url, relay_id=RELAY_ID, tenant_id=TENANT, revocation_poll_s=0.1, backoff_max_s=0.3)


async def _forwarded(relay: Relay, settings: CloudSettings, client: CloudClient, metrics: AgentMetrics,
                     devices: list[Enrolled]) -> tuple[EventCache, Forwarder]:
    """A forwarder on the relay's database that has sent the cloud one event of each device (so the cloud
    knows them), and its event cache."""
    cache = EventCache(relay.sessions, timedelta(days=1), timedelta(hours=1))
    for device in devices:
        cache.store(device.device_id, [uplink_pb2.UplinkMessage(message_id=1, event=make_event())])
    forwarder = Forwarder(settings, cache, HealthMonitor(relay.sessions, HealthSettings(), metrics), client, metrics)
    assert await forwarder.run_once() == len(devices)
    return cache, forwarder


def test_cloud_revocations_are_applied_once_and_kept(tmp_path: Path) -> None:
    values, relay_key, relay = _cloud_and_relay(tmp_path)
    app = app_for(values)
    with serve(app) as url, httpx.Client(base_url=url) as http:
        admin = TenantAdmin(http)
        settings = _settings(url)
        # Two devices enrol with tokens from the cloud; a third token stays unused.
        porch, yard = (relay.registry.enrol(admin.issue_token(name)["token"], _wg_public_key()) for name in ("porch", "yard"))
        spare = admin.issue_token("spare")

        async def scenario() -> None:
            metrics = AgentMetrics("relay")
            client = CloudClient(settings, relay_key)
            try:
                # The relay reports both devices (so the cloud knows them) and the tokens it spent.
                _, forwarder = await _forwarded(relay, settings, client, metrics, [porch, yard])
                await forwarder.report_consumed_tokens()
                assert sorted(admin.devices()) == sorted([porch.device_id, yard.device_id])

                # The tenant admin revokes one device and the unused token.
                admin.revoke_device(porch.device_id)
                admin.revoke_token(spare["id"])

                seen: list[str] = []
                poller = RevocationPoller(settings, relay.sessions, client, metrics, seen.extend)
                applied = await poller.poll_once()
                assert applied.devices == [porch.device_id] and seen == [porch.device_id]
                # Only the revoked token is recorded: the two this relay spent are known as used already.
                assert applied.tokens == 1 and [n for n, _ in relay.revoked_tokens()] == [spare["id"]]
                assert _sample(metrics, "applied_total", kind="device") == 1
                assert _sample(metrics, "applied_total", kind="bootstrap_token") == 1
                assert _sample(metrics, "last_success_timestamp_seconds") > 0

                revoked = relay.device(porch.device_id)
                assert revoked.revoked_at is not None and revoked.status_reason == "revoked"
                assert [d.device_id for d in relay.registry.active_devices()] == [yard.device_id]
                assert relay.registry.device_for_address(porch.tunnel_address) is None  # the uplink's identity check
                assert relay.registry.device_for_address(yard.tunnel_address) is not None

                # The same list again changes nothing.
                tokens_before = relay.revoked_tokens()
                again = await poller.poll_once()
                assert again.devices == [] and again.tokens == 0 and seen == [porch.device_id]
                assert relay.device(porch.device_id).revoked_at == revoked.revoked_at
                assert relay.revoked_tokens() == tokens_before
                assert _sample(metrics, "applied_total", kind="device") == 1
                assert _sample(metrics, "applied_total", kind="bootstrap_token") == 1

                # A request signed with another key is refused by the cloud, and reported as such.
                intruder = CloudClient(settings, auth.generate_private_key())
                try:
                    with pytest.raises(RevocationFeedError) as refused:
                        await RevocationPoller(settings, relay.sessions, intruder, AgentMetrics("relay")).poll_once()
                    assert refused.value.status == 401
                finally:
                    await intruder.close()
            finally:
                await client.close()

        asyncio.run(scenario())

    # After a restart (the database re-opened, no cloud at all): the token is still refused, clearly,
    # and nothing is registered; the device is still revoked.
    relay.engine.dispose()
    relay.open()
    count = len(relay.registry.active_devices())
    with pytest.raises(EnrolmentRefused) as refused:
        relay.registry.enrol(spare["token"], _wg_public_key())
    assert (refused.value.reason, refused.value.status) == ("token_revoked", 409)
    assert "revoked" in str(refused.value)
    assert len(relay.registry.active_devices()) == count
    assert relay.device(porch.device_id).revoked_at is not None
    # Expired entries are forgotten with the used tokens (they would be refused as expired anyway).
    assert relay.registry.forget_expired_tokens() == 0
    relay.engine.dispose()


def test_a_device_revoked_at_the_relay_is_revoked_in_the_cloud(tmp_path: Path) -> None:
    """``guardian-relay device revoke`` (the registry's local revocation) reaches the cloud in the next
    health report: the device leaves the cloud's device list, its cameras go, the relay's revocation list
    names it from then on, and nothing more it reports is stored."""
    values, relay_key, relay = _cloud_and_relay(tmp_path)
    app = app_for(values)
    with serve(app) as url, httpx.Client(base_url=url) as http:
        admin = TenantAdmin(http)
        settings = _settings(url)
        porch, yard = (relay.registry.enrol(admin.issue_token(name)["token"], _wg_public_key()) for name in ("porch", "yard"))

        def cameras() -> list[str]:
            response = http.get("/api/v1/cameras", headers=admin.headers)
            assert response.status_code == 200, response.text
            return sorted(c["device_id"] for c in response.json())

        def events() -> int:
            response = http.get("/api/v1/events", headers=admin.headers)
            assert response.status_code == 200, response.text
            return len(response.json()["items"])

        async def scenario() -> None:
            metrics = AgentMetrics("relay")
            client = CloudClient(settings, relay_key)
            try:
                cache, forwarder = await _forwarded(relay, settings, client, metrics, [porch, yard])
                assert sorted(admin.devices()) == sorted([porch.device_id, yard.device_id])
                assert cameras() == sorted([porch.device_id, yard.device_id]) and events() == 2

                # The operator revokes the porch device at the relay; the next report carries it.
                revoke_device(relay.sessions, porch.device_id, source="local")
                await forwarder.run_once()
                assert admin.devices() == [yard.device_id]
                assert http.get(f"/api/v1/devices/{porch.device_id}", headers=admin.headers).status_code == 404
                assert cameras() == [yard.device_id]
                assert metrics.registry.get_sample_value("guardian_relay_devices_by_status", {"status": "revoked"}) == 1

                # The cloud's revocation list names it now; the relay has nothing new to apply.
                assert await _devices_in_feed(client) == [porch.device_id]
                applied = await RevocationPoller(settings, relay.sessions, client, metrics).poll_once()
                assert applied.devices == []

                # What it still reports (an event queued before the revocation) is not stored.
                cache.store(porch.device_id, [uplink_pb2.UplinkMessage(message_id=2, event=make_event())])
                await forwarder.run_once()
                assert events() == 2
                assert admin.devices() == [yard.device_id]
            finally:
                await client.close()

        asyncio.run(scenario())
    relay.engine.dispose()


def test_a_device_that_enrolled_with_a_token_revoked_meanwhile_is_revoked(tmp_path: Path) -> None:
    """The race the poll interval leaves open: a device enrols with a token (checked offline) and the
    tenant admin revokes that token before the relay has reported its use. The cloud's answer to the
    report (409 ``token_revoked``) makes the relay revoke that device, and the cloud hears of it. A token
    whose use was reported before it was revoked leaves its device alone."""
    values, relay_key, relay = _cloud_and_relay(tmp_path)
    with serve(app_for(values)) as url, httpx.Client(base_url=url) as http:
        admin = TenantAdmin(http)
        settings = _settings(url)
        early = admin.issue_token("early")
        porch = relay.registry.enrol(early["token"], _wg_public_key())
        late = admin.issue_token("late")

        async def scenario() -> None:
            metrics = AgentMetrics("relay")
            client = CloudClient(settings, relay_key)
            revoked: list[str] = []
            try:
                _, forwarder = await _forwarded(relay, settings, client, metrics, [porch])
                forwarder.on_revoked = revoked.extend
                await forwarder.report_consumed_tokens()  # porch's token: reported as used
                yard = relay.registry.enrol(late["token"], _wg_public_key())
                # Both tokens are revoked now; only yard's use had not been reported.
                admin.revoke_token(early["id"])
                admin.revoke_token(late["id"])
                await forwarder.report_consumed_tokens()
                assert revoked == [yard.device_id]
                assert relay.device(yard.device_id).revoked_at is not None
                assert relay.device(porch.device_id).revoked_at is None
                assert [d.device_id for d in relay.registry.active_devices()] == [porch.device_id]
                # Reported once: the next round changes nothing.
                await forwarder.report_consumed_tokens()
                assert revoked == [yard.device_id]
                # The next health report carries the revocation to the cloud.
                await forwarder.run_once()
                assert await _devices_in_feed(client) == [yard.device_id]
                assert admin.devices() == [porch.device_id]
            finally:
                await client.close()

        asyncio.run(scenario())
    relay.engine.dispose()


def test_poller_survives_a_cloud_outage_and_catches_up(tmp_path: Path) -> None:
    values, relay_key, relay = _cloud_and_relay(tmp_path)
    port = free_port()
    settings = CloudSettings(url=f"http://127.0.0.1:{port}", relay_id=RELAY_ID, tenant_id=TENANT,
                             revocation_poll_s=0.05, backoff_max_s=0.2)
    app = app_for(values)
    with serve(app) as url, httpx.Client(base_url=url) as http:
        spare = TenantAdmin(http).issue_token("spare")
        TenantAdmin(http).revoke_token(spare["id"])

    async def scenario() -> None:
        metrics = AgentMetrics("relay")
        client = CloudClient(settings, relay_key)
        progress: list[float] = []
        poller = RevocationPoller(settings, relay.sessions, client, metrics)
        task = asyncio.create_task(poller.run(lambda: progress.append(time.monotonic())))
        try:
            # Nothing listens on the cloud's port: failures are counted, backed off, and survived.
            await _until(lambda: _sample(metrics, "poll_failures_total") >= 3, 60, "three failed polls")
            assert not task.done() and progress == [] and relay.revoked_tokens() == []
            # The cloud comes back: the next poll applies what was missed, and the loop goes on.
            with serve(app_for(values), port):
                await _until(lambda: relay.revoked_tokens() != [], 60, "the revoked token to be recorded")
                await _until(lambda: len(progress) >= 2, 60, "two successful polls")
            assert not task.done() and poller.backoff.attempt == 0
        finally:
            task.cancel()
            await client.close()

    asyncio.run(scenario())
    assert [n for n, _ in relay.revoked_tokens()] == [spare["id"]]
    relay.engine.dispose()


def test_malformed_lists() -> None:
    with pytest.raises(RevocationFeedError):
        parse_revocations({"error": "not a list"})
    parsed = parse_revocations([
        {"kind": "device", "device_id": "dev-1", "revoked_at": "2026-01-01T00:00:00Z"},
        {"kind": "device"},  # no id: skipped
        {"kind": "bootstrap_token", "nonce": "n1", "expires_at": "2026-01-01T00:00:00"},  # naive: UTC
        {"kind": "bootstrap_token", "nonce": "n2", "expires_at": "soon"},  # skipped
        {"kind": "camera", "id": "x"},  # a kind from a newer cloud: ignored
        "garbage",
    ])
    assert parsed.devices == frozenset({"dev-1"})
    assert list(parsed.tokens) == ["n1"] and parsed.tokens["n1"].tzinfo is not None
