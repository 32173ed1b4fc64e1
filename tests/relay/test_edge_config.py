"""Desired configurations through the relay (issue #17): pulled from a cloud, cached in the relay's SQLite,
watched by edges over the relay's real gRPC server, and what the edges applied forwarded in ingest batches.

The cloud is :mod:`tests.relay.config_cloud` (a small real HTTP server speaking exactly the contract, so
outages, pages and cursors can be arranged) and, in the last test, the real cloud app; both under
uvicorn. The relay's pieces are the real ones on a real database file. Two devices are told apart by their
tunnel address as in production: one calls from 127.0.0.1, the other from ::1.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from nacl.public import PrivateKey, PublicKey, SealedBox

from agents.relay.cache import EventCache
from agents.relay.config import CloudSettings, HealthSettings
from agents.relay.config_pull import ConfigPuller
from agents.relay.config_reports import MAX_TEXT, ConfigReports, InvalidReport, config_status
from agents.relay.db import open_database
from agents.relay.db.tables import Device
from agents.relay.desired_configs import ConfigChanges, DesiredConfigs
from agents.relay.edge_config import EdgeConfigService
from agents.relay.forwarder import CloudClient, CloudRejected, Forwarder
from agents.relay.grpc_server import UplinkService, identify_by_tunnel_address, make_server
from agents.relay.health import HealthMonitor
from agents.relay.registry import Registry
from guardian.contracts import auth
from guardian.contracts.cloud.v1 import ingest_pb2
from guardian.contracts.edge.v1 import config_pb2, config_pb2_grpc, uplink_pb2
from guardian.runtime.logging import configure_logging
from guardian.runtime.metrics import AgentMetrics
from tests.cloud.conftest import free_port
from tests.cloud.servers import serve
from tests.relay.cloud_real import TenantAdmin, app_for, cloud_settings, prepare
from tests.relay.config_cloud import ContractCloud, cursor_text
from tests.relay.netlab import make_event

TENANT, RELAY_ID = "tenant-a", "relay-a"
PORCH, YARD = "dev-porch", "dev-yard"  # enrolled here, calling from 127.0.0.1 and ::1
SEALED = b"\x93sealed-username:password-ciphertext\x17"
STATUS_FIELDS = {"deviceId", "appliedVersion", "refusedVersion", "refusedReason", "cameras", "at", "configKeyId",
                 "configPublicKey"}


def desired(device_id: str, version: int, camera: str = "front") -> config_pb2.DesiredConfig:
    config = config_pb2.DesiredConfig(device_id=device_id, version=version)
    config.created_at.GetCurrentTime()
    config.cameras.add(
        name=camera, display_name=camera.title(), enabled=True,
        record=config_pb2.StreamSource(url=f"rtsp://10.0.0.{version}/{camera}",
                                       credentials=config_pb2.SealedSecret(ciphertext=SEALED, key_id="k")),
    )
    return config


def enrol(sessions, device_id: str, address: str) -> None:
    with sessions.begin() as session:
        session.add(Device(device_id=device_id, tenant_id=TENANT, public_key=f"key-{device_id}",
                           tunnel_address=address))


def sample(metrics: AgentMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(f"guardian_relay_config_{name}", labels) or 0.0


async def until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def received(call, what: str) -> config_pb2.DesiredConfig:
    """The next config on a Watch stream (a deadline only so a broken relay fails instead of hanging)."""
    message = await asyncio.wait_for(call.read(), 30)
    assert message is not grpc.aio.EOF, f"stream ended before {what}"
    return message


class Relay:
    """The relay's pieces that take part, on one database file; ``start`` again after ``stop`` is a restart."""

    def __init__(self, db: Path, cloud_url: str, signing_key: auth.Ed25519PrivateKey, poll_s: float = 0.05) -> None:
        self.db, self.signing_key = db, signing_key
        self.settings = CloudSettings(url=cloud_url, relay_id=RELAY_ID, tenant_id=TENANT, config_poll_s=poll_s,
                                      backoff_max_s=0.2)
        self.port = free_port()

    async def start(self) -> None:
        self.engine, self.sessions = open_database(self.db)
        self.metrics = AgentMetrics("relay")
        registry = Registry(self.sessions, tenant_id=TENANT, relay_id=RELAY_ID, token_keys=auth.load_public_keys([]),
                            network="10.77.0.0/24", relay_address="10.77.0.1")
        identify = identify_by_tunnel_address(registry)
        self.cache = EventCache(self.sessions, timedelta(days=1), timedelta(hours=1))
        self.configs, self.changes = DesiredConfigs(self.sessions), ConfigChanges()
        self.reports = ConfigReports(self.sessions)
        self.service = EdgeConfigService(self.configs, self.changes, self.reports, identify, self.metrics)
        self.server = make_server(UplinkService(self.cache, identify, self.metrics))  # as the relay serves it
        config_pb2_grpc.add_EdgeConfigServicer_to_server(self.service, self.server)
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        self.server.add_insecure_port(f"[::1]:{self.port}")
        await self.server.start()
        self.client = CloudClient(self.settings, self.signing_key)
        self.puller = ConfigPuller(self.settings, self.configs, self.changes, self.client, self.metrics)
        self.forwarder = Forwarder(self.settings, self.cache, HealthMonitor(self.sessions, HealthSettings(), self.metrics),
                                   self.client, self.metrics, config_reports=self.reports)

    async def stop(self) -> None:
        await self.server.stop(grace=None)
        await self.client.close()
        self.engine.dispose()

    @asynccontextmanager
    async def edge(self, address: str) -> AsyncIterator[config_pb2_grpc.EdgeConfigStub]:
        """An edge's EdgeConfig client, calling from ``address`` (127.0.0.1 or ::1)."""
        target = f"[{address}]:{self.port}" if ":" in address else f"{address}:{self.port}"
        async with grpc.aio.insecure_channel(target) as channel:
            yield config_pb2_grpc.EdgeConfigStub(channel)


@asynccontextmanager
async def relay_and_cloud(tmp_path: Path, page: int = 100, poll_s: float = 0.05,
                          ) -> AsyncIterator[tuple[Relay, ContractCloud, str]]:
    """A running contract cloud and a started relay (two devices enrolled); yields them and the cloud's URL."""
    relay_key = auth.generate_private_key()
    cloud = ContractCloud(RELAY_ID, relay_key.public_key(), page)
    port = free_port()
    with serve(cloud.app(), port=port) as url:
        relay = Relay(tmp_path / "relay.db", url, relay_key, poll_s)
        await relay.start()
        enrol(relay.sessions, PORCH, "127.0.0.1")
        enrol(relay.sessions, YARD, "::1")
        try:
            yield relay, cloud, url
        finally:
            await relay.stop()


def test_watch_gets_the_cached_newer_version_at_once_then_each_newer_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with relay_and_cloud(tmp_path) as (relay, cloud, _url):
            cloud.publish(desired(PORCH, 1))
            second = desired(PORCH, 2)
            cloud.publish(second)  # the newest only is cached
            await relay.puller.poll_once()
            async with relay.edge("127.0.0.1") as edge:
                fresh = edge.Watch(config_pb2.WatchRequest(applied_version=0))
                current = edge.Watch(config_pb2.WatchRequest(applied_version=2))  # has it: nothing at once
                first = await received(fresh, "the cached version")
                assert first == second  # as the cloud sent it, sealed credentials included
                await until(lambda: relay.changes.watching(PORCH) == 2, "both streams to wait")

                cloud.publish(desired(PORCH, 3, "garden"))
                await relay.puller.poll_once()  # stores v3 and wakes both streams
                for call in (fresh, current):
                    newer = await received(call, "version 3")
                    assert newer.version == 3 and newer.cameras[0].name == "garden"
                fresh.cancel()
                current.cancel()
            assert sample(relay.metrics, "versions_served_total") == 3
            assert sample(relay.metrics, "versions_stored_total") == 2
            assert sample(relay.metrics, "pulls_total", result="ok") == 2

    asyncio.run(scenario())


def test_an_edge_gets_its_own_config_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with relay_and_cloud(tmp_path) as (relay, cloud, _url):
            cloud.publish(desired(PORCH, 1, "porch"))
            cloud.publish(desired(YARD, 4, "yard"))
            cloud.publish(desired("dev-elsewhere", 1))  # the tenant's, enrolled at another relay: not kept
            await relay.puller.poll_once()
            assert relay.configs.cached_count() == 2
            assert sample(relay.metrics, "configs_skipped_total", reason="not_enrolled") == 1

            async with relay.edge("127.0.0.1") as porch, relay.edge("::1") as yard:
                porch_watch = porch.Watch(config_pb2.WatchRequest())
                yard_watch = yard.Watch(config_pb2.WatchRequest())
                assert (await received(porch_watch, "porch's config")).cameras[0].name == "porch"
                yard_config = await received(yard_watch, "yard's config")
                assert (yard_config.device_id, yard_config.version, yard_config.cameras[0].name) == (YARD, 4, "yard")

                # A newer version for the porch reaches the porch; the yard's next message is its own v5.
                cloud.publish(desired(PORCH, 2, "porch"))
                await relay.puller.poll_once()
                assert (await received(porch_watch, "porch v2")).version == 2
                cloud.publish(desired(YARD, 5, "yard"))
                await relay.puller.poll_once()
                assert (await received(yard_watch, "yard v5")).device_id == YARD

                # Revoked: its open stream ends, and a new call from its address is refused.
                with relay.sessions.begin() as session:
                    device = session.get(Device, YARD)
                    assert device is not None
                    device.revoked_at = device.enrolled_at
                relay.service.disconnect(YARD)
                with pytest.raises(grpc.aio.AioRpcError) as ended:
                    await received(yard_watch, "the end of the stream")
                assert ended.value.code() == grpc.StatusCode.PERMISSION_DENIED
                for call in (yard.Watch(config_pb2.WatchRequest()).read(), yard.Report(config_pb2.ConfigReport())):
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await call
                    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
                porch_watch.cancel()
            assert sample(relay.metrics, "calls_refused_total") == 2
            cloud.publish(desired(YARD, 6, "yard"))  # a revoked device's configs are no longer kept
            await relay.puller.poll_once()
            assert relay.configs.newest(YARD).version == 5  # type: ignore[union-attr]
            assert sample(relay.metrics, "configs_skipped_total", reason="not_enrolled") == 2

    asyncio.run(scenario())


def _report(applied: int, *, device_id: str = "", key: bytes = b"\x42" * 32, key_id: str | None = None,
            error: str = "unreachable: connection refused") -> config_pb2.ConfigReport:
    report = config_pb2.ConfigReport(device_id=device_id, applied_version=applied, refused_version=applied + 1,
                                     refused_reason="camera name 'Front Door' is not allowed")
    report.cameras.add(camera="front", state="applied")
    report.cameras.add(camera="back", state="failed", error=error)
    report.at.GetCurrentTime()
    report.config_key.public_key = key
    report.config_key.key_id = hashlib.sha256(key).hexdigest()[:16] if key_id is None else key_id
    return report


def test_a_report_goes_to_the_cloud_in_the_next_batch_and_only_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with relay_and_cloud(tmp_path) as (relay, cloud, _url):
            cloud.publish(desired(PORCH, 3))  # cached here, sealed credentials and all: none of it goes up
            await relay.puller.poll_once()
            async with relay.edge("127.0.0.1") as porch:
                # The payload names another device: the tunnel address decides.
                ack = await porch.Report(_report(3, device_id=YARD))
                assert ack.recorded_version == 3
                # Versions no cloud numbered: refused, nothing recorded.
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await porch.Report(_report(2**31))
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert relay.reports.pending_count() == 1
            assert sample(relay.metrics, "reports_total", result="recorded") == 1
            assert sample(relay.metrics, "reports_total", result="invalid") == 1

            # The cloud fails once: the report stays queued, and goes in the next batch.
            cloud.fail_ingest = 1
            with pytest.raises(CloudRejected, match="503"):
                await relay.forwarder.run_once()
            assert relay.reports.pending_count() == 1 and cloud.config_status() == []
            await relay.forwarder.run_once()
            (status,) = cloud.config_status()
            key = b"\x42" * 32
            assert status == {
                "deviceId": PORCH, "appliedVersion": "3", "refusedVersion": "4",
                "refusedReason": "camera name 'Front Door' is not allowed",
                "cameras": [{"camera": "front", "state": "applied"},
                            {"camera": "back", "state": "failed", "error": "unreachable: connection refused"}],
                "at": status["at"], "configKeyId": hashlib.sha256(key).hexdigest()[:16],
                "configPublicKey": base64.urlsafe_b64encode(key).rstrip(b"=").decode(),
            }
            assert set(status) <= STATUS_FIELDS
            assert relay.reports.pending_count() == 0
            await relay.forwarder.run_once()  # acknowledged: not sent again
            assert len(cloud.config_status()) == 1
            sent = json.dumps(cloud.batches)
            assert base64.b64encode(SEALED).decode() not in sent and "rtsp://" not in sent
            assert sample(relay.metrics, "statuses_forwarded_total") == 1

    asyncio.run(scenario())


def test_a_report_that_arrives_while_its_batch_is_in_flight_is_sent_next(tmp_path: Path) -> None:
    _engine, sessions = open_database(tmp_path / "relay.db")
    reports = ConfigReports(sessions)
    reports.record(PORCH, _report(1))
    in_flight = reports.pending(10)
    reports.record(PORCH, _report(2))  # while the batch with version 1 is on its way
    reports.mark_forwarded(in_flight)  # the cloud acknowledged version 1
    (pending,) = reports.pending(10)
    assert pending.status.applied_version == 2
    reports.mark_forwarded([pending])
    assert reports.pending(10) == []


def test_a_restarted_relay_serves_its_cache_while_the_cloud_is_down_then_resumes_from_its_cursor(tmp_path: Path) -> None:
    async def scenario() -> None:
        relay_key = auth.generate_private_key()
        cloud = ContractCloud(RELAY_ID, relay_key.public_key())
        port = free_port()
        with serve(cloud.app(), port=port) as url:
            relay = Relay(tmp_path / "relay.db", url, relay_key)
            await relay.start()
            enrol(relay.sessions, PORCH, "127.0.0.1")
            cloud.publish(desired(PORCH, 1))
            await relay.puller.poll_once()
            assert relay.configs.cursor() == cursor_text(1)
        # The cloud is down now. The relay restarts: same database, new process state.
        await relay.stop()
        await relay.start()
        pulling = asyncio.create_task(relay.puller.run())
        try:
            await until(lambda: sample(relay.metrics, "pulls_total", result="failed") >= 2, "polls to fail")
            async with relay.edge("127.0.0.1") as porch:
                watch = porch.Watch(config_pb2.WatchRequest(applied_version=0))
                cached = await received(watch, "the cached config")
                assert (cached.device_id, cached.version) == (PORCH, 1)

                # The cloud comes back with a newer version: the pull asks from its stored cursor and the
                # waiting edge gets it.
                asked_before = len(cloud.afters)
                cloud.publish(desired(PORCH, 2))
                with serve(cloud.app(), port=port):
                    newer = await received(watch, "version 2")
                    assert newer.version == 2
                watch.cancel()
            assert cloud.afters[asked_before] == cursor_text(1)
            assert relay.configs.cursor() == cursor_text(2)
        finally:
            pulling.cancel()
            await relay.stop()

    asyncio.run(scenario())


def test_a_device_enrolled_after_the_cursor_gets_its_config(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with relay_and_cloud(tmp_path) as (relay, cloud, _url):
            cloud.publish(desired("dev-late", 1))  # saved in the cloud before the device enrolled here
            await relay.puller.poll_once()
            await relay.puller.poll_once()
            assert cloud.afters == [None, cursor_text(1)] and relay.configs.newest("dev-late") is None
            enrol(relay.sessions, "dev-late", "10.77.0.9")
            await relay.puller.poll_once()  # the cursor is past its config: everything again
            await relay.puller.poll_once()
            assert cloud.afters[2:] == [None, cursor_text(1)]
            late = relay.configs.newest("dev-late")
            assert late is not None and late.version == 1

    asyncio.run(scenario())


def test_the_pull_asks_for_the_next_page_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        # One config per answer, and a poll interval no test waits for: only paging gets all three.
        async with relay_and_cloud(tmp_path, page=1, poll_s=3600) as (relay, cloud, _url):
            enrol(relay.sessions, "dev-third", "10.77.0.9")
            for device_id in (PORCH, YARD, "dev-third"):
                cloud.publish(desired(device_id, 1))
            pulling = asyncio.create_task(relay.puller.run())
            try:
                await until(lambda: relay.configs.cached_count() == 3, "three pages")
                await until(lambda: len(cloud.afters) == 4, "the empty answer that ends the round")
            finally:
                pulling.cancel()
            assert cloud.afters == [None, cursor_text(1), cursor_text(2), cursor_text(3)]

    asyncio.run(scenario())


def test_through_the_real_cloud_a_saved_config_reaches_the_edge_sealed_and_its_report_comes_back(
    tmp_path: Path, capfd: pytest.CaptureFixture[str],
) -> None:
    """The real cloud app (SQLite, uvicorn): the edge's key goes up in a report, the tenant admin saves a
    camera with credentials sealed to it, the relay pulls it down the edge's Watch, the edge's report of
    the applied version shows in the cloud's API. The credentials stay sealed all the way."""
    # This test reads the relay's log lines: send them to this test's captured stdout (an earlier test may
    # have pointed the root handler at a stream captured for itself).
    configure_logging("INFO")
    token_key, relay_key = auth.generate_private_key(), auth.generate_private_key()
    values = cloud_settings(tmp_path / "cloud.db", token_key)
    prepare(values, tenant_id=TENANT, relay_id=RELAY_ID, relay_public_key=auth.public_key_to_text(relay_key),
            relay_url="https://relay-a.example.org")
    edge_key = PrivateKey.generate()
    public = bytes(edge_key.public_key)
    key_id = hashlib.sha256(public).hexdigest()[:16]
    password = "Gr3en-Parrot-Lantern"

    async def scenario(url: str, admin: TenantAdmin) -> None:
        relay = Relay(tmp_path / "relay.db", url, relay_key)
        await relay.start()
        try:
            registry = Registry(relay.sessions, tenant_id=TENANT, relay_id=RELAY_ID,
                                token_keys=auth.load_public_keys([auth.public_key_to_text(token_key)]),
                                network="10.77.0.0/24", relay_address="10.77.0.1")
            device_id = registry.enrol(admin.issue_token("porch")["token"], base64.b64encode(b"w" * 32).decode()).device_id
            with relay.sessions.begin() as session:  # this test's edge calls from loopback, not a tunnel
                device = session.get(Device, device_id)
                assert device is not None
                device.tunnel_address = "127.0.0.1"
            relay.cache.store(device_id, [uplink_pb2.UplinkMessage(message_id=1, event=make_event())])

            async with relay.edge("127.0.0.1") as edge:
                # The edge starts: nothing applied yet, here is its sealing key. The cloud learns both.
                start = config_pb2.ConfigReport(applied_version=0)
                start.config_key.key_id, start.config_key.public_key = key_id, public
                await edge.Report(start)
                await relay.forwarder.run_once()
                config_url = f"/api/v1/devices/{device_id}/config"
                shown = admin.client.get(config_url, headers=admin.headers).json()
                assert shown["config_key"] == {"key_id": key_id,
                                               "public_key": base64.urlsafe_b64encode(public).rstrip(b"=").decode()}

                # The admin saves a camera whose password is sealed (as the browser does) to that key.
                sealed = SealedBox(PublicKey(public)).encrypt(f"admin:{password}".encode())
                camera = {"name": "porch", "display_name": "Porch", "record": {
                    "url": "rtsp://10.0.0.7:554/main",
                    "credentials": {"ciphertext": base64.urlsafe_b64encode(sealed).rstrip(b"=").decode(),
                                    "key_id": key_id}}}
                saved = admin.client.put(config_url, headers=admin.headers,
                                         json={"base_version": 0, "cameras": [camera]})
                assert saved.status_code == 201, saved.text

                watch = edge.Watch(config_pb2.WatchRequest(applied_version=0))
                await relay.puller.poll_once()
                config = await received(watch, "the saved config")
                assert (config.device_id, config.version, config.cameras[0].name) == (device_id, 1, "porch")
                credentials = config.cameras[0].record.credentials
                assert credentials.key_id == key_id
                assert SealedBox(edge_key).decrypt(credentials.ciphertext) == f"admin:{password}".encode()
                watch.cancel()

                applied = config_pb2.ConfigReport(applied_version=1)
                applied.cameras.add(camera="porch", state="failed", error="authentication failed (401)")
                applied.config_key.key_id, applied.config_key.public_key = key_id, public
                await edge.Report(applied)
            await relay.forwarder.run_once()
            reported = admin.client.get(config_url, headers=admin.headers).json()["reported"]
            assert reported["applied_version"] == 1
            assert reported["cameras"] == [{"camera": "porch", "state": "failed",
                                            "error": "authentication failed (401)"}]
        finally:
            await relay.stop()
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("relay.db*"))
        assert password.encode() not in stored and sealed in stored  # kept sealed, as the cloud sent it

    with serve(app_for(values)) as url, httpx.Client(base_url=url) as http:
        asyncio.run(scenario(url, TenantAdmin(http)))
    logs = capfd.readouterr()
    assert "config_version_sent" in logs.out + logs.err  # the relay's log lines are here
    assert password not in logs.out + logs.err and "Gr3en" not in logs.out + logs.err


def test_a_long_poll_of_the_real_cloud_brings_a_saved_config_to_the_edge_at_once(tmp_path: Path) -> None:
    """The relay's default long poll (``config_wait_s``) with the real cloud (SQLite, uvicorn), and a poll
    interval no test waits for: the config saved while the relay's request waits in the cloud is its answer
    (one pull), it reaches the waiting edge, and the relay waits in the cloud again at once."""
    token_key, relay_key = auth.generate_private_key(), auth.generate_private_key()
    values = cloud_settings(tmp_path / "cloud.db", token_key)
    prepare(values, tenant_id=TENANT, relay_id=RELAY_ID, relay_public_key=auth.public_key_to_text(relay_key),
            relay_url="https://relay-a.example.org")
    app = app_for(values)

    async def scenario(url: str, admin: TenantAdmin) -> None:
        relay = Relay(tmp_path / "relay.db", url, relay_key, poll_s=3600)
        assert relay.settings.config_wait_s > 0  # the default
        await relay.start()
        enrol(relay.sessions, PORCH, "127.0.0.1")
        health = ingest_pb2.IngestBatch(relay_id=RELAY_ID, health=[ingest_pb2.DeviceHealth(device_id=PORCH)])
        await relay.client.ingest(health)  # the cloud learns of the device
        pulling = asyncio.create_task(relay.puller.run())
        try:
            async with relay.edge("127.0.0.1") as edge:
                watch = edge.Watch(config_pb2.WatchRequest(applied_version=0))
                await until(lambda: app.state.config_waits.waiting(TENANT) == 1, "the relay's poll to wait")
                camera = {"name": "porch", "display_name": "Porch", "record": {"url": "rtsp://10.0.0.7:554/main"}}
                saved = admin.client.put(f"/api/v1/devices/{PORCH}/config", headers=admin.headers,
                                         json={"base_version": 0, "cameras": [camera]})
                assert saved.status_code == 201, saved.text
                config = await received(watch, "the saved config")
                assert (config.device_id, config.version, config.cameras[0].name) == (PORCH, 1, "porch")
                # The answer to the waiting request, not to a later one (its wait did not run out first).
                assert sample(relay.metrics, "pulls_total", result="ok") == 1
                await until(lambda: app.state.config_waits.waiting(TENANT) == 1, "the relay to wait again")
                watch.cancel()
        finally:
            pulling.cancel()
            await relay.stop()

    with serve(app) as url, httpx.Client(base_url=url) as http:
        asyncio.run(scenario(url, TenantAdmin(http)))


def test_a_cloud_that_ignores_wait_is_polled_at_intervals(tmp_path: Path) -> None:
    """A cloud without long polls (the contract cloud: it ignores ``wait`` and answers at once, without the
    ``X-Guardian-Wait`` header) is asked again after ``config_poll_s``, not at once."""
    async def scenario() -> None:
        async with relay_and_cloud(tmp_path) as (relay, cloud, _url):
            assert relay.settings.config_wait_s > 0
            pulled = await relay.puller.poll_once()
            assert (pulled.received, pulled.more, pulled.long_poll) == (0, False, False)
            cloud.publish(desired(PORCH, 1))
            pulled = await relay.puller.poll_once()
            assert (pulled.received, pulled.more, pulled.long_poll) == (1, True, False)

    asyncio.run(scenario())


def test_what_goes_up_is_what_the_cloud_accepts() -> None:
    """The cloud refuses a batch as a whole: what it would refuse is cut, clamped or left out of a report
    (the rest still goes up), and a report with versions no cloud numbered is refused."""
    report = _report(1, error="x" * 5000)
    report.at.FromDatetime(datetime.now(UTC) + timedelta(days=1))  # an edge whose clock runs ahead
    status, left_out = config_status(PORCH, report)
    assert status.at.ToDatetime(tzinfo=UTC) <= datetime.now(UTC)
    assert len(status.cameras[1].error) == MAX_TEXT and status.config_key_id and left_out == []

    odd = _report(1, key_id="0" * 16)  # a key that is not its id
    for name, state in (("Front Door", "applied"), ("", "failed"), ("x" * 33, "applied"), ("side", ""),
                        ("side", "exploded")):
        odd.cameras.add(camera=name, state=state)
    for number in range(70):
        odd.cameras.add(camera=f"cam{number}", state="applied")
    status, left_out = config_status(PORCH, odd)
    assert [c.camera for c in status.cameras] == ["front", "back"] + [f"cam{n}" for n in range(62)]
    assert (status.config_key_id, status.config_public_key) == ("", "")
    assert len(left_out) == 7 and status.applied_version == 1 and status.refused_reason
    short = _report(1, key=b"short")
    assert config_status(PORCH, short)[0].config_public_key == ""
    for impossible in (config_pb2.ConfigReport(applied_version=2**31), config_pb2.ConfigReport(refused_version=2**31)):
        with pytest.raises(InvalidReport):
            config_status(PORCH, impossible)
