"""The edge uplink agent (``guardian-edge uplink run``): tunnel, outbox sender, telemetry, media server (EdgeMedia,
and EdgeCameras: pictures, discovery, probes, live view), and the desired camera config from the relay
(:mod:`agents.edge.uplink.config_watch`), and the edge agents' metrics for the relay's Prometheus on the
tunnel address (:mod:`agents.edge.uplink.scrape_proxy`).

Runs beside the recorder and the detector, sharing only the edge database with them: they write
events into the outbox; this agent sends them and deletes what the relay acknowledged. Media is
looked up in the events table, camera states in the recorder's cameras table, and the inference
latency in the detector's /metrics on loopback.

``uplink.mode = "tls"`` is for the local demo only (edge and relay on one machine, no WireGuard): the
uplink and the EdgeMedia server use mutual TLS with the certificate the relay issued at enrolment, and
the EdgeMedia server listens on the loopback address the relay allocated (and dials).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc

from agents.edge import outbox
from agents.edge.camera_config.cameras import KeySource, runnable_cameras
from agents.edge.camera_config.key import ConfigKey, config_key_path
from agents.edge.config import EdgeSettings
from agents.edge.db import database_path, open_database
from agents.edge.enrolment import Enrolment, client_ca_path, enrolment_path, tls_cert_path, tls_key_path
from agents.edge.live.hub import LiveHub
from agents.edge.outbox import OutboxKind, OutboxLimits
from agents.edge.uplink.camera_ids import CameraIdKeyError, camera_id_key_path, load_or_create_key
from agents.edge.uplink.cameras_server import EdgeCamerasService, live_cameras
from agents.edge.uplink.client import AGENT_VERSION, UplinkClient
from agents.edge.uplink.config_watch import ConfigWatch
from agents.edge.uplink.heartbeat_stamp import HeartbeatStamp
from agents.edge.uplink.media_server import EdgeMediaService, EventsLookup, MediaLookup
from agents.edge.uplink.release import RELEASE_BASE, rolled_back
from agents.edge.uplink.scrape_proxy import ScrapeProxy
from agents.edge.uplink.telemetry import (
    CAMERA_LOOK_S,
    CameraStatusSource,
    DetectorLatency,
    InferenceLatencySource,
    NoInference,
    RecorderCameras,
    SampleSchedule,
    TelemetrySampler,
    camera_states,
)
from agents.edge.uplink.tunnel import EdgeTunnel
from guardian.contracts.edge.v1 import cameras_pb2_grpc, media_pb2_grpc
from guardian.runtime.errors import EX_CONFIG, GuardianError
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics, MetricsServer, serve_metrics
from guardian.runtime.service import ServiceContext

log = get_logger("guardian.edge.uplink")


class NotEnrolled(GuardianError):
    exit_code = EX_CONFIG

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"not enrolled ({path} missing): run `guardian-edge enrol` first")


class TlsNotEnrolled(GuardianError):
    exit_code = EX_CONFIG

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"uplink.mode = 'tls' but no certificate from the relay ({', '.join(missing)}): "
                         "enrol again with the relay in tls mode")


RELAY_CLIENT_NAME = "guardian-relay"  # agents.relay.pki.RELAY_CLIENT_NAME (the edge does not import the relay)


class UplinkAgent:
    name = "edge-uplink"

    def __init__(
        self,
        settings: EdgeSettings,
        metrics: AgentMetrics | None = None,
        media: MediaLookup | None = None,
        cameras: CameraStatusSource | None = None,
        inference: InferenceLatencySource | None = None,
        release_base: Path = RELEASE_BASE,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or AgentMetrics("edge")
        self.media = media
        self.cameras = cameras
        url = settings.uplink.detector_metrics_url
        self.inference = inference or (DetectorLatency(url) if url else NoInference())
        self.tunnel: EdgeTunnel | None = None
        self.client: UplinkClient | None = None
        self.config_watch: ConfigWatch | None = None
        self._media_server: grpc.aio.Server | None = None
        self.live: LiveHub | None = None
        self._metrics_server: MetricsServer | None = None
        self.scrape_proxy: ScrapeProxy | None = None
        self.outbox_length = self.metrics.gauge("outbox", "length", "Rows waiting in the outbox.", ("kind",))
        self.dropped = self.metrics.counter(
            "outbox", "dropped_total", "Rows dropped by the outbox size policy.", ("kind",)
        )
        for kind in ("event", "telemetry"):
            self.outbox_length.labels(kind)
            self.dropped.labels(kind)
        # guardian-activate restarts the agents after each switch, so one look at start is current.
        self.metrics.gauge(
            "release", "rolled_back", "1 while the edge runs the release its last update was rolled back to."
        ).set(1 if rolled_back(release_base) else 0)

    async def start(self, ctx: ServiceContext) -> None:
        s = self.settings
        path = enrolment_path(s)
        if not path.exists():
            raise NotEnrolled(path)
        enrolment = Enrolment.load(path)
        _engine, self.sessions = open_database(database_path(s))
        if self.media is None:
            self.media = EventsLookup(self.sessions, s.storage.data_dir)
        if self.cameras is None:
            self.cameras = RecorderCameras(self.sessions, s.cameras)
        self._metrics_server = serve_metrics(s.metrics, self.metrics)

        allowed_peer: str | None = None
        allowed_name: str | None = None
        credentials: grpc.ChannelCredentials | None = None
        server_credentials: grpc.ServerCredentials | None = None
        if s.uplink.mode == "wireguard":
            self.tunnel = EdgeTunnel(s, enrolment, self.metrics)
            await asyncio.to_thread(self.tunnel.up)
            media_address = enrolment.tunnel_address
            allowed_peer = enrolment.relay_tunnel_address
            if s.uplink.scrape_proxy.enabled:
                try:
                    camera_key = load_or_create_key(camera_id_key_path(s))
                    self.scrape_proxy = ScrapeProxy(
                        s.uplink.scrape_proxy, enrolment.tunnel_address, allowed_peer, camera_key
                    )
                except (OSError, CameraIdKeyError) as exc:
                    # Metrics are a side channel: events still go, the relay sees up == 0.
                    log.error("scrape_proxy_failed", port=s.uplink.scrape_proxy.port, error=str(exc))
                else:
                    self.scrape_proxy.start()
        else:
            credentials, server_credentials = self._tls_credentials()
            media_address = s.uplink.media_address or enrolment.tunnel_address
            allowed_name = RELAY_CLIENT_NAME
            log.warning("uplink_tls_mode", note="demo only: no WireGuard tunnel", relay=enrolment.relay_tunnel_address)
        target = f"{enrolment.relay_tunnel_address}:{enrolment.uplink_port}"

        tunnel = self.tunnel
        stamp = HeartbeatStamp(s.uplink.heartbeat_stamp) if s.uplink.heartbeat_stamp else None

        def on_rtt(ms: float) -> None:  # a heartbeat was acknowledged
            if tunnel is not None:
                tunnel.rtt_ms = ms
            if stamp is not None:
                stamp.touch()

        self.client = UplinkClient(self.sessions, target, s.uplink, self.metrics, credentials, on_rtt)
        # Made on the first start; the cloud seals camera credentials to it (reported on each connection).
        config_key = await asyncio.to_thread(ConfigKey.load_or_create, config_key_path(s.storage.data_dir))
        self.config_watch = ConfigWatch(
            self.sessions, target, config_key, enrolment.device_id, s.uplink, self.metrics, credentials,
            on_applied=self._end_live_views_of_stopped_cameras,
        )
        self._media_server = grpc.aio.server()
        media_pb2_grpc.add_EdgeMediaServicer_to_server(
            EdgeMediaService(self.media, allowed_peer, allowed_name), self._media_server
        )
        keys = KeySource(config_key_path(s.storage.data_dir))
        self.live = LiveHub(live_cameras(self.sessions, keys))
        cameras_pb2_grpc.add_EdgeCamerasServicer_to_server(
            EdgeCamerasService(s.storage.data_dir, config_key, allowed_peer, allowed_name, live=self.live),
            self._media_server,
        )
        media_target = f"{media_address}:{enrolment.media_port}"
        if server_credentials is None:
            self._media_server.add_insecure_port(media_target)  # inside WireGuard
        else:
            self._media_server.add_secure_port(media_target, server_credentials)
        await self._media_server.start()

        self.sampler = TelemetrySampler(
            self.sessions,
            s.storage.data_dir,
            self.cameras,
            self.inference,
            (lambda: tunnel.health()) if tunnel is not None else (lambda: None),
            AGENT_VERSION,
        )
        ctx.tasks.create_task(self.client.run(ctx.watchdog.progress), name="uplink")
        ctx.tasks.create_task(self.config_watch.run(), name="config-watch")
        ctx.tasks.create_task(self._telemetry_loop(), name="telemetry")
        ctx.tasks.create_task(self._outbox_loop(ctx), name="outbox-limits")
        if tunnel is not None:
            ctx.tasks.create_task(self._tunnel_loop(), name="tunnel")
        log.info("uplink_started", device=enrolment.device_id, target=target, config_key_id=config_key.key_id)

    def _tls_credentials(self) -> tuple[grpc.ChannelCredentials, grpc.ServerCredentials]:
        """tls mode: (uplink channel, EdgeMedia server) credentials from the enrolment's certificate."""
        s = self.settings
        assert s.uplink.relay_ca_file is not None  # the config refuses tls mode without it
        paths = (tls_key_path(s), tls_cert_path(s), client_ca_path(s))
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise TlsNotEnrolled(missing)
        key, cert, device_ca = (p.read_bytes() for p in paths)
        relay_ca = s.uplink.relay_ca_file.read_bytes()
        channel = grpc.ssl_channel_credentials(relay_ca, key, cert)
        # The relay calls EdgeMedia with a certificate from the device CA (CN checked in the servicer).
        server = grpc.ssl_server_credentials([(key, cert)], root_certificates=device_ca, require_client_auth=True)
        return channel, server

    async def _end_live_views_of_stopped_cameras(self) -> None:
        """After a config is applied: a camera disabled or removed is watched by nobody any more."""
        if self.live is not None:
            running = {spec.name for spec in await asyncio.to_thread(runnable_cameras, self.sessions)}
            await self.live.keep_cameras(running, "camera disabled or removed")

    async def _telemetry_loop(self) -> None:
        assert self.client is not None and self.cameras is not None
        interval = self.settings.uplink.telemetry_interval_s
        schedule = SampleSchedule(interval, time.monotonic() - interval)  # the first look samples: a started edge shows its cameras at once
        while True:
            await asyncio.sleep(min(CAMERA_LOOK_S, interval))
            try:
                states = camera_states(await asyncio.to_thread(self.cameras.camera_status))
                if schedule.due(states, time.monotonic()):
                    sample = await asyncio.to_thread(self.sampler.enqueue_sample)
                    schedule.sent(camera_states(list(sample.cameras)), time.monotonic())
                    self.client.wake.set()
            except Exception as exc:  # a bad sample must not stop the uplink
                log.error("telemetry_failed", error=str(exc))

    async def _tunnel_loop(self) -> None:
        assert self.tunnel is not None
        while True:
            await asyncio.sleep(self.settings.uplink.tunnel_check_interval_s)
            try:
                await asyncio.to_thread(self.tunnel.check)
            except Exception as exc:  # retried next round
                log.error("tunnel_check_failed", error=str(exc))

    def _enforce(self) -> tuple[outbox.Trimmed, int, int]:
        u = self.settings.uplink
        limits = OutboxLimits(u.outbox_max_items, u.outbox_max_telemetry, u.outbox_max_events)
        with self.sessions() as session, session.begin():
            trimmed = outbox.enforce_limits(session, limits)
            events = outbox.length(session, OutboxKind.EVENT)
            telemetry = outbox.length(session, OutboxKind.TELEMETRY)
        return trimmed, events, telemetry

    async def _outbox_loop(self, ctx: ServiceContext) -> None:
        while True:
            trimmed, events, telemetry = await asyncio.to_thread(self._enforce)
            if trimmed.telemetry or trimmed.events:
                self.dropped.labels("telemetry").inc(trimmed.telemetry)
                self.dropped.labels("event").inc(trimmed.events)
                log.warning("outbox_trimmed", telemetry=trimmed.telemetry, events=trimmed.events)
            self.outbox_length.labels("event").set(events)
            self.outbox_length.labels("telemetry").set(telemetry)
            ctx.watchdog.progress()
            await asyncio.sleep(5.0)

    def _queued_events(self) -> int:
        with self.sessions() as session:
            return outbox.length(session, OutboxKind.EVENT)

    async def _flush_on_stop(self) -> None:
        """Send what the event outbox holds for up to ``stop_flush_s`` (the detector stops before the
        uplink and queues its last updates; without this they would wait for the next start)."""
        budget = self.settings.uplink.stop_flush_s
        if budget <= 0 or self.client is None:
            return
        loop = asyncio.get_running_loop()
        begin = loop.time()
        queued = left = await asyncio.to_thread(self._queued_events)
        if not queued:
            return
        # A fresh run: its first session starts at once (no reconnect backoff); everything that was in
        # flight when the tasks were cancelled is sent again (the relay deduplicates by event id).
        sender = asyncio.create_task(self.client.run(), name="uplink-stop-flush")
        try:
            while left and loop.time() - begin < budget and not sender.done():
                await asyncio.sleep(0.05)
                left = await asyncio.to_thread(self._queued_events)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        log_at = log.info if not left else log.warning
        log_at("uplink_stop_flush", queued=queued, left=left, seconds=round(loop.time() - begin, 2), budget_s=budget)

    async def close(self) -> None:
        try:
            await self._flush_on_stop()
        except Exception as exc:  # the stop must go on; what is left is sent at the next start
            log.error("uplink_stop_flush_failed", error=str(exc))
        if self._media_server is not None:
            await self._media_server.stop(grace=1.0)
        if self.live is not None:
            await self.live.close()  # the viewers' browsers see the session end and reconnect
        if self.scrape_proxy is not None:
            self.scrape_proxy.close()
        if self._metrics_server is not None:
            self._metrics_server.close()
