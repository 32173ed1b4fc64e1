"""``guardian-edge archive run``: the archive uploader as its own agent beside the uplink.

It shares the edge database (events in, archive queue) and talks to the relay's gRPC server over the
tunnel the uplink agent keeps up (the relay address comes from the enrolment record); in tls mode (the
demo) over mutual TLS with the enrolment's certificate instead.
"""

from __future__ import annotations

from pathlib import Path

import grpc
from sqlalchemy.orm import sessionmaker

from agents.common.sqlite import WriterSession
from agents.edge.archive.keystore import load_kek
from agents.edge.archive.uploader import ArchiveUploader
from agents.edge.config import EdgeSettings
from agents.edge.db import database_path, open_database
from agents.edge.enrolment import Enrolment, enrolment_path, tls_cert_path, tls_key_path
from agents.edge.relay_channel import relay_channel
from guardian.runtime.errors import EX_CONFIG, GuardianError
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics, MetricsServer, serve_metrics
from guardian.runtime.service import ServiceContext

log = get_logger("guardian.edge.archive")


class ArchiveDisabled(GuardianError):
    exit_code = EX_CONFIG


def key_path(settings: EdgeSettings) -> Path:
    return settings.archive.key_file or settings.storage.data_dir / "archive" / "archive-key.json"


def open_queue(settings: EdgeSettings) -> sessionmaker[WriterSession]:
    _engine, sessions = open_database(database_path(settings))
    return sessions


class ArchiveAgent:
    name = "edge-archive"

    def __init__(self, settings: EdgeSettings, metrics: AgentMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or AgentMetrics("edge")
        self._channel: grpc.aio.Channel | None = None
        self._metrics_server: MetricsServer | None = None

    async def start(self, ctx: ServiceContext) -> None:
        s = self.settings
        if not s.archive.enabled:
            raise ArchiveDisabled("archive.enabled is false in the config: nothing to do")
        target = s.archive.relay_target
        if target is None:
            path = enrolment_path(s)
            if not path.exists():
                raise GuardianError(f"not enrolled ({path} missing): run `guardian-edge enrol` first")
            enrolment = Enrolment.load(path)
            target = f"{enrolment.relay_tunnel_address}:{enrolment.uplink_port}"
        sessions = open_queue(s)
        self._metrics_server = serve_metrics(s.metrics, self.metrics)
        self._channel = relay_channel(target, self._tls_credentials())
        path = key_path(s)
        self.uploader = ArchiveUploader(sessions, s.storage.data_dir, s.archive, lambda: load_kek(path),
                                        self._channel, self.metrics)
        ctx.tasks.create_task(self.uploader.run(ctx.watchdog.progress), name="archive")
        log.info("archive_started", target=target)

    def _tls_credentials(self) -> grpc.ChannelCredentials | None:
        """tls mode (the demo): mutual TLS with the certificate from enrolment, as the uplink; None: plain
        gRPC inside the WireGuard tunnel."""
        s = self.settings
        if s.uplink.mode != "tls":
            return None
        assert s.uplink.relay_ca_file is not None  # the config refuses tls mode without it
        paths = (tls_key_path(s), tls_cert_path(s))
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise GuardianError(f"uplink.mode = 'tls' but no certificate from the relay ({', '.join(missing)}): "
                                "enrol again with the relay in tls mode")
        key, cert = (p.read_bytes() for p in paths)
        return grpc.ssl_channel_credentials(s.uplink.relay_ca_file.read_bytes(), key, cert)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        if self._metrics_server is not None:
            self._metrics_server.close()
