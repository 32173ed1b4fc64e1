"""The edge recording service: owns the cameras and keeps footage on disk."""

from __future__ import annotations

import asyncio

from agents.edge.config import EdgeSettings
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics, MetricsServer, serve_metrics
from guardian.runtime.service import ServiceContext

log = get_logger("guardian.edge.recorder")


class RecorderAgent:
    name = "edge-recorder"

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.metrics = AgentMetrics("edge")
        self.cameras_configured = self.metrics.gauge("recorder", "cameras_configured", "Cameras in the config.")
        self._metrics_server: MetricsServer | None = None

    async def start(self, ctx: ServiceContext) -> None:
        self.cameras_configured.set(sum(1 for c in self.settings.cameras if c.enabled))
        self._metrics_server = serve_metrics(self.settings.metrics, self.metrics)
        ctx.tasks.create_task(self._housekeeping(ctx), name="housekeeping")

    async def _housekeeping(self, ctx: ServiceContext) -> None:
        while True:
            ctx.watchdog.progress()
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._metrics_server is not None:
            self._metrics_server.close()
