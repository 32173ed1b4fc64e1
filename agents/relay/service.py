"""The relay agent: one process, one TaskGroup.

Start order: database → WireGuard interface and peers (wireguard mode) → gRPC Uplink and EdgeConfig
server on the tunnel address → HTTPS enrolment (public address, and the tunnel address for key rotation)
with the browser media endpoint mounted at ``/media`` → the update mirror on the tunnel address (when
``[updates]`` is enabled) → the reconcile, forwarding, revocation-poll,
config-pull and cleanup loops. READY follows (``run_agent``).

tls mode (the local demo only, see agents/relay/README.md): no WireGuard; the Uplink server requires a
client certificate from the relay's device CA, enrolment issues those certificates, and the relay calls
the edges' EdgeMedia servers on their loopback addresses with its own (in-memory) client certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import uvicorn
from cryptography import x509

from agents.relay.cache import EventCache
from agents.relay.camera_http import CameraEndpoint
from agents.relay.config import LiveSettings, RelaySettings
from agents.relay.config_pull import ConfigPuller
from agents.relay.config_reports import ConfigReports
from agents.relay.desired_configs import ConfigChanges, DesiredConfigs
from agents.relay.edge_cameras import EdgeCamerasClient
from agents.relay.edge_config import EdgeConfigService
from agents.relay.enrolment import RelayInfo, create_app
from agents.relay.forwarder import CloudClient, Forwarder
from agents.relay.grpc_server import (
    UplinkService,
    identify_by_certificate,
    identify_by_tunnel_address,
    make_server,
)
from agents.relay.health import HealthMonitor
from agents.relay.live_http import LiveEndpoint
from agents.relay.media import EdgeMediaClient
from agents.relay.media_access import registry_lookup
from agents.relay.media_http import MediaEndpoint, create_media_app
from agents.relay.pki import DeviceCA
from agents.relay.registry import Registry
from agents.relay.revocations import RevocationPoller
from agents.relay.tunnel import RelayTunnel
from agents.relay.update_mirror import UpdateMirror
from guardian.contracts import auth
from guardian.contracts.edge.v1 import config_pb2_grpc
from guardian.runtime.errors import ConfigError
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics, MetricsServer, serve_metrics
from guardian.runtime.service import ServiceContext

log = get_logger("guardian.relay")


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the agent runner owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen_socket(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it, a response's headers and body (separate TLS records)
    # meet Nagle's algorithm and the client's delayed ACK, adding ~40 ms to every answer.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((address, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def load_signing_key(path: Path) -> auth.Ed25519PrivateKey:
    try:
        return auth.private_key_from_text(path.read_text())
    except FileNotFoundError:
        raise ConfigError(str(path), ["cloud.signing_key_file: file not found"]) from None
    except ValueError as exc:
        raise ConfigError(str(path), [f"cloud.signing_key_file: {exc}"]) from None


def _certificate_expiry(path: Path) -> float:
    """notAfter of the served certificate (the first of the PEM chain), as unix time."""
    return x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc.timestamp()


def _turn_secret(live: LiveSettings) -> bytes:
    """coturn's shared secret when live view is on (empty when off); a missing or empty file is a config error."""
    if not live.enabled:
        return b""
    try:
        secret = live.secret_file.read_text().strip().encode()
    except OSError as exc:
        raise ConfigError(str(live.secret_file), [f"live.secret_file: {exc.strerror or exc}"]) from None
    if not secret:
        raise ConfigError(str(live.secret_file), ["live.secret_file: empty"])
    return secret


class RelayAgent:
    name = "relay"

    def __init__(self, settings: RelaySettings, metrics: AgentMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or AgentMetrics("relay")
        # uvicorn reads the certificate once at start: the one loaded then is the one served until a restart.
        self.certificate_expiry = self.metrics.gauge(
            "tls", "certificate_expiry_timestamp_seconds", "When the certificate the relay's HTTPS presents expires (unix time)."
        )
        self._grpc: grpc.aio.Server | None = None
        self._http: _Uvicorn | None = None
        self._cloud: CloudClient | None = None
        self._metrics_server: MetricsServer | None = None
        self.media_client: EdgeMediaClient | None = None
        self._reconcile_now = asyncio.Event()
        self.tunnel: RelayTunnel | None = None
        self.live: LiveEndpoint | None = None
        self._revocation_tasks: set[asyncio.Task[None]] = set()
        self.updates: UpdateMirror | None = None
        self._updates_http: _Uvicorn | None = None

    async def start(self, ctx: ServiceContext) -> None:
        s = self.settings
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per forward request is noise
        from agents.relay.db import open_database

        try:
            keys = auth.load_public_keys(s.enrolment.token_public_keys)
        except ValueError as exc:
            raise ConfigError("enrolment.token_public_keys", [str(exc)]) from None
        _engine, sessions = open_database(s.cache.database)
        self.registry = Registry(
            sessions,
            tenant_id=s.cloud.tenant_id,
            relay_id=s.cloud.relay_id,
            token_keys=keys,
            network=s.tunnel.network,
            relay_address=s.tunnel.relay_address,
        )
        self.cache = EventCache(
            sessions,
            retention=timedelta(days=s.cache.event_retention_days),
            telemetry_retention=timedelta(hours=s.cache.telemetry_retention_hours),
        )
        self.health = HealthMonitor(sessions, s.health, self.metrics)
        self._metrics_server = serve_metrics(s.metrics, self.metrics)

        if s.tunnel.mode == "wireguard":
            self.tunnel = RelayTunnel(s.tunnel, self.registry, self.metrics)
            await asyncio.to_thread(self.tunnel.up)
            grpc_address = s.tunnel.relay_address
            identify = identify_by_tunnel_address(self.registry)
        else:
            grpc_address = s.uplink.tls_listen_address
            identify = identify_by_certificate(self.registry)

        self.uplink = UplinkService(self.cache, identify, self.metrics, s.uplink.max_batch)
        self._grpc = make_server(self.uplink)
        # Desired configurations down, what edges applied up (issue #17): the same server and identity rule.
        self.desired_configs, self.config_changes = DesiredConfigs(sessions), ConfigChanges()
        self.config_reports = ConfigReports(sessions)
        self.edge_config = EdgeConfigService(self.desired_configs, self.config_changes, self.config_reports,
                                             identify, self.metrics)
        config_pb2_grpc.add_EdgeConfigServicer_to_server(self.edge_config, self._grpc)
        if s.archive.enabled:  # the Archive service (encrypted clips → object store), same server
            from agents.relay.archive import make_archive_service
            from guardian.contracts.edge.v1 import archive_pb2_grpc

            self._cloud = CloudClient(s.cloud, load_signing_key(s.cloud.signing_key_file))
            self.archive = make_archive_service(s, sessions, self._cloud, identify, self.metrics)
            archive_pb2_grpc.add_ArchiveServicer_to_server(self.archive, self._grpc)
            ctx.tasks.create_task(self.archive.run_reports(s.archive.report_interval_s), name="archive-reports")
        target = f"{grpc_address}:{s.uplink.port}"
        if s.tunnel.mode == "wireguard":
            self._grpc.add_insecure_port(target)  # inside WireGuard: encrypted and authenticated already
        else:
            self._grpc.add_secure_port(target, self._server_credentials())
        await self._grpc.start()
        log.info("uplink_listening", address=target, mode=s.tunnel.mode)

        loop = asyncio.get_running_loop()

        def on_change() -> None:  # from the enrolment thread pool
            loop.call_soon_threadsafe(loop.call_later, 1.0, self._reconcile_now.set)

        prefix = ipaddress.ip_network(s.tunnel.network).prefixlen
        info = RelayInfo(
            relay_public_key=self.tunnel.public_key if self.tunnel else "",
            relay_endpoint=s.enrolment.public_endpoint,
            relay_tunnel_address=grpc_address,
            tunnel_prefix=prefix,
            uplink_port=s.uplink.port,
            media_port=s.uplink.edge_media_port,
            keepalive_s=s.tunnel.keepalive_s,
        )
        device_ca = None
        media_credentials = None
        if s.tunnel.mode == "tls":
            e = s.enrolment
            assert e.client_ca_file is not None and e.client_ca_key_file is not None
            try:
                device_ca = DeviceCA(e.client_ca_file, e.client_ca_key_file)
            except (OSError, ValueError, TypeError) as exc:
                raise ConfigError("enrolment.client_ca_file", [f"device CA unusable: {exc}"]) from None
            identity = device_ca.relay_client_identity()
            media_credentials = grpc.ssl_channel_credentials(identity.ca, identity.private_key, identity.certificate)
        app = create_app(self.registry, info, on_change, device_ca)
        if s.media.enabled:
            self.media_client = EdgeMediaClient(s.uplink.edge_media_port, media_credentials)
            endpoint = MediaEndpoint(
                tenant_id=s.cloud.tenant_id,
                token_keys=keys,
                devices=registry_lookup(sessions),
                client=self.media_client,
                settings=s.media,
                metrics=self.metrics,
                events=self.cache,
            )
            cameras = CameraEndpoint(
                tenant_id=s.cloud.tenant_id,
                token_keys=keys,
                devices=registry_lookup(sessions),
                client=EdgeCamerasClient(self.media_client),
                settings=s.media,
                metrics=self.metrics,
            )
            live = self.live = LiveEndpoint(
                tenant_id=s.cloud.tenant_id,
                token_keys=keys,
                devices=registry_lookup(sessions),
                client=EdgeCamerasClient(self.media_client),
                media=s.media,
                settings=s.live,
                turn_secret=_turn_secret(s.live),
                metrics=self.metrics,
            )
            app.mount("/media", create_media_app(endpoint, s.media.cors_origins, [*cameras.routes(), *live.routes()]))
        sockets = [_listen_socket(s.enrolment.address, s.enrolment.port)]
        if self.tunnel is not None and s.enrolment.address not in ("0.0.0.0", "::", grpc_address):
            sockets.append(_listen_socket(grpc_address, s.enrolment.port))
        config = uvicorn.Config(
            app,
            ssl_certfile=str(s.enrolment.tls_cert_file),
            ssl_keyfile=str(s.enrolment.tls_key_file),
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._http = _Uvicorn(config)
        self.certificate_expiry.set(_certificate_expiry(s.enrolment.tls_cert_file))
        ctx.tasks.create_task(self._http.serve(sockets=sockets), name="enrolment")
        log.info("enrolment_listening", address=s.enrolment.address, port=s.enrolment.port)

        if s.updates.enabled:
            self._serve_updates(ctx, grpc_address)

        ctx.tasks.create_task(self._reconcile_loop(ctx), name="reconcile")  # tls mode too: local revocations
        ctx.tasks.create_task(self._cleanup_loop(ctx), name="cleanup")
        if s.cloud.enabled:
            self._cloud = self._cloud or CloudClient(s.cloud, load_signing_key(s.cloud.signing_key_file))
            forwarder = Forwarder(s.cloud, self.cache, self.health, self._cloud, self.metrics,
                                  on_revoked=self._cloud_revoked, config_reports=self.config_reports)
            ctx.tasks.create_task(forwarder.run(ctx.watchdog.progress), name="forwarder")
            self.revocations = RevocationPoller(s.cloud, sessions, self._cloud, self.metrics, self._cloud_revoked)
            ctx.tasks.create_task(self.revocations.run(ctx.watchdog.progress), name="revocations")
            puller = ConfigPuller(s.cloud, self.desired_configs, self.config_changes, self._cloud, self.metrics)
            ctx.tasks.create_task(puller.run(ctx.watchdog.progress), name="config-pull")

    def _serve_updates(self, ctx: ServiceContext, address: str) -> None:
        """The update mirror, plain HTTP on the tunnel address (the nftables of provisioning let only the tunnel
        interface reach it: enrolled edges; in tls mode, the demo's loopback address). What it serves is signed by
        the release key and checked by the edge."""
        s = self.settings.updates
        self.updates = UpdateMirror(s, self.metrics)
        try:
            self.updates.open()
        except OSError as exc:
            raise ConfigError("updates.cache_dir", [f"{s.cache_dir}: {exc.strerror or exc}"]) from None
        config = uvicorn.Config(self.updates.app(), log_config=None, access_log=False, lifespan="off")
        self._updates_http = _Uvicorn(config)
        ctx.tasks.create_task(self._updates_http.serve(sockets=[_listen_socket(address, s.port)]), name="updates")
        log.info("updates_listening", address=address, port=s.port)

    def _cloud_revoked(self, device_ids: list[str]) -> None:
        """Devices revoked in the registry because of the cloud (it revoked them, or the token they enrolled
        with): act now rather than at the next round."""
        for device_id in device_ids:
            if self.uplink.active.get(device_id):
                self.uplink.disconnect(device_id)  # open streams end (in tls mode too)
            self.edge_config.disconnect(device_id)
        task = asyncio.ensure_future(self._end_revoked(device_ids))
        self._revocation_tasks.add(task)  # held until done (the loop keeps only weak references)
        task.add_done_callback(self._revocation_tasks.discard)

    async def _end_revoked(self, device_ids: list[str]) -> None:
        """Their live sessions end first, while the tunnel still carries the stop to the edge; then (wireguard
        mode) their peers leave the interface."""
        if self.live is not None:
            await self.live.end_sessions_of(device_ids)
        self._reconcile_now.set()

    def _server_credentials(self) -> grpc.ServerCredentials:
        e = self.settings.enrolment
        assert e.client_ca_file is not None
        return grpc.ssl_server_credentials(
            [(e.tls_key_file.read_bytes(), e.tls_cert_file.read_bytes())],
            root_certificates=e.client_ca_file.read_bytes(),
            require_client_auth=True,
        )

    async def _reconcile_loop(self, ctx: ServiceContext) -> None:
        """Act on the registry's revoked devices every ``reconcile_interval_s`` (and at once when asked):
        their live views stop, their WireGuard peers go (wireguard mode), their open streams end. This is
        how a revocation made here (`guardian-relay device revoke`, another process) is noticed; in tls mode
        there is no WireGuard part, the rest is the same."""
        interval = self.settings.tunnel.reconcile_interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconcile_now.wait(), timeout=interval)
            self._reconcile_now.clear()
            revoked = await asyncio.to_thread(self._revoked_ids)
            if self.live is not None:  # e.g. `guardian-relay device revoke`: stop its views before its peer goes
                await self.live.end_sessions_of(revoked)
            if self.tunnel is not None:
                try:
                    await asyncio.to_thread(self.tunnel.reconcile)
                except Exception as exc:  # a failed `wg` call must not end the relay; retried next round
                    log.error("reconcile_failed", error=str(exc))
                    continue
            for device_id in revoked:
                if self.uplink.active.get(device_id):
                    self.uplink.disconnect(device_id)
                if self.config_changes.watching(device_id):
                    self.edge_config.disconnect(device_id)
            ctx.watchdog.progress()

    def _revoked_ids(self) -> list[str]:
        from sqlalchemy import select

        from agents.relay.db.tables import Device

        with self.registry.sessions() as session:
            return list(session.scalars(select(Device.device_id).where(Device.revoked_at.is_not(None))))

    async def _cleanup_loop(self, ctx: ServiceContext) -> None:
        while True:
            events, samples = await asyncio.to_thread(self.cache.cleanup)
            tokens_forgotten = await asyncio.to_thread(self.registry.forget_expired_tokens)
            if events or samples or tokens_forgotten:
                log.info("cache_cleaned", events=events, telemetry=samples, tokens=tokens_forgotten)
            if not self.settings.cloud.enabled:
                await asyncio.to_thread(self.health.evaluate)
            ctx.watchdog.progress()
            await asyncio.sleep(self.settings.cache.cleanup_interval_s if self.settings.cloud.enabled else 5.0)

    async def close(self) -> None:
        if self._http is not None:
            self._http.should_exit = True
        if self._updates_http is not None:
            self._updates_http.should_exit = True
        if self.updates is not None:
            await self.updates.close()
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
        if self.media_client is not None:
            await self.media_client.close()
        if self._cloud is not None:
            await self._cloud.close()
        if self._metrics_server is not None:
            self._metrics_server.close()
