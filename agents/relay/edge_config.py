"""The EdgeConfig gRPC service: desired configurations down to the edges, what they applied back up.

Served next to Uplink on the same server, with the same identity rule: the device is the one the
connection's tunnel address (or, in tls mode, its client certificate) names, never an id in a message.

- ``Watch``: if the cached version (:mod:`agents.relay.desired_configs`) is newer than the edge's
  ``applied_version`` it is sent at once, then each newer one as the pull stores it: the stream sleeps on
  an event the pull sets, no stream polls. A revoked device's streams end.
- ``Report``: recorded as the device's reported state and queued for the cloud
  (:mod:`agents.relay.config_reports`, which leaves out what the cloud would refuse); the answer is the
  applied version recorded. A report with impossible versions is refused with INVALID_ARGUMENT.

Logs carry device ids and versions, never a configuration's contents (stream URLs, sealed credentials).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc

from agents.relay.config_reports import ConfigReports, InvalidReport
from agents.relay.desired_configs import ConfigChanges, DesiredConfigs
from guardian.contracts.edge.v1 import config_pb2, config_pb2_grpc
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.relay.edge_config")

Identify = Callable[[grpc.aio.ServicerContext], str | None]


class EdgeConfigService(config_pb2_grpc.EdgeConfigServicer):
    def __init__(
        self,
        configs: DesiredConfigs,
        changes: ConfigChanges,
        reports: ConfigReports,
        identify: Identify,
        metrics: AgentMetrics,
    ) -> None:
        self.configs = configs
        self.changes = changes
        self.reports = reports
        self.identify = identify
        self.revoked: set[str] = set()
        self.served = metrics.counter("config", "versions_served_total", "Desired config versions sent to edges.")
        self.reported = metrics.counter(
            "config", "reports_total", "Config reports from edges, by result.", ("result",)
        )
        for result in ("recorded", "invalid"):
            self.reported.labels(result)
        self.streams = metrics.gauge("config", "watch_streams", "Open EdgeConfig.Watch streams.")
        self.refused = metrics.counter("config", "calls_refused_total", "EdgeConfig calls from unknown sources.")

    def disconnect(self, device_id: str) -> None:
        """End the device's Watch streams (after revocation)."""
        self.revoked.add(device_id)
        self.changes.notify([device_id])

    async def _device(self, context: grpc.aio.ServicerContext, call: str) -> str:
        device_id = await asyncio.to_thread(self.identify, context)
        if device_id is None:
            self.refused.inc()
            log.warning("edge_config_refused", call=call, peer=context.peer())
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "not an enrolled device")
        assert device_id is not None  # abort raises
        return device_id

    async def Watch(
        self, request: config_pb2.WatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[config_pb2.DesiredConfig]:
        device_id = await self._device(context, "watch")
        self.revoked.discard(device_id)
        changed = self.changes.subscribe(device_id)
        sent = request.applied_version
        self.streams.inc()
        log.info("config_watch_opened", device=device_id, applied_version=sent)
        try:
            while True:
                changed.clear()  # before reading: a version stored after the read sets it again
                config = await asyncio.to_thread(self.configs.newest, device_id)
                if config is not None and config.version > sent:
                    yield config
                    sent = config.version
                    self.served.inc()
                    log.info("config_version_sent", device=device_id, version=sent)
                await changed.wait()
                if device_id in self.revoked:
                    await context.abort(grpc.StatusCode.PERMISSION_DENIED, "device revoked")
        finally:
            self.changes.unsubscribe(device_id, changed)
            self.streams.dec()
            log.info("config_watch_closed", device=device_id)

    async def Report(self, request: config_pb2.ConfigReport, context: grpc.aio.ServicerContext) -> config_pb2.ReportAck:
        device_id = await self._device(context, "report")
        try:
            left_out = await asyncio.to_thread(self.reports.record, device_id, request)
        except InvalidReport as exc:
            self.reported.labels("invalid").inc()
            log.warning("config_report_invalid", device=device_id, reason=exc.reason)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.reason)
        self.reported.labels("recorded").inc()
        if left_out:
            log.warning("config_report_parts_left_out", device=device_id, parts=sorted(set(left_out)))
        failed = sum(1 for camera in request.cameras if camera.state == "failed")
        log.info("config_report_recorded", device=device_id, applied_version=request.applied_version,
                 refused_version=request.refused_version, cameras=len(request.cameras), cameras_failed=failed)
        return config_pb2.ReportAck(recorded_version=request.applied_version)
