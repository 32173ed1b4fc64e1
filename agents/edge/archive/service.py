"""``guardian-edge archive run``: the archive uploader as its own agent beside the uplink.

It shares the edge database (events in, archive queue) and talks to the relay's gRPC server over the
tunnel the uplink agent keeps up (the relay address comes from the enrolment record).
"""

from __future__ import annotations

import grpc

from agents.edge.archive import queue
from agents.edge.archive.keystore import load_kek
from agents.edge.archive.uploader import ArchiveUploader
from agents.edge.config import EdgeSettings
from agents.edge.db import open_database
from agents.edge.uplink.client import CHANNEL_OPTIONS
from agents.edge.uplink.state import Enrolment, database_path, enrolment_path
from guardian.runtime.errors import EX_CONFIG, GuardianError
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics, MetricsServer, serve_metrics
from guardian.runtime.service import ServiceContext

log = get_logger("guardian.edge.archive")


class ArchiveDisabled(GuardianError):
    exit_code = EX_CONFIG


def key_path(settings: EdgeSettings):  # type: ignore[no-untyped-def]
    return settings.archive.key_file or settings.storage.data_dir / "archive" / "archive-key.json"


def open_queue(settings: EdgeSettings):  # type: ignore[no-untyped-def]
    engine, sessions = open_database(database_path(settings))
    queue.create_table(engine)
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
        self._channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)  # inside WireGuard
        path = key_path(s)
        self.uploader = ArchiveUploader(sessions, s.storage.data_dir, s.archive, lambda: load_kek(path),
                                        self._channel, self.metrics)
        ctx.tasks.create_task(self.uploader.run(ctx.watchdog.progress), name="archive")
        log.info("archive_started", target=target)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        if self._metrics_server is not None:
            self._metrics_server.close()
