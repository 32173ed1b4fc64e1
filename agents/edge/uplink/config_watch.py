"""The desired camera config from the relay: ``EdgeConfig.Watch`` → validate and apply → ``EdgeConfig.Report``.

On each connection the edge first reports what it has applied (with its config key, so the cloud can seal
credentials to it), then watches from its applied version: the relay sends the newest version at once if it
is newer, then each newer one as it arrives. Each is applied atomically
(:func:`agents.edge.camera_config.store.apply`) and reported. Any stream error ends the connection; the
next one starts after an exponential backoff with full jitter, reset by a message received. The recorder
and the detector pick the applied cameras up from the database on their own; ``on_applied`` is for the
uplink's own use of them (the live view ends the sessions of cameras disabled or removed).

The report also carries the detector's connection to the site's MQTT broker (``camera_config.mqtt_status``,
written by the detector process when it changes): while connected, the uplink looks at it every
:data:`MQTT_CHECK_S` and reports again when it changed — on a change, never on each of the publisher's retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
from sqlalchemy.orm import sessionmaker

from agents.common.sqlite import WriterSession
from agents.edge.camera_config import mqtt_status, store
from agents.edge.camera_config.key import ConfigKey
from agents.edge.relay_channel import relay_channel
from agents.edge.uplink.config import UplinkSettings
from guardian.contracts.edge.v1 import config_pb2, config_pb2_grpc
from guardian.runtime.backoff import Backoff
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.edge.config")

REPORT_TIMEOUT_S = 10.0
MQTT_CHECK_S = 5.0  # a local SQLite read of one row; the cloud shows a broker problem within seconds


class ConfigWatch:
    def __init__(
        self,
        sessions: sessionmaker[WriterSession],
        target: str,
        key: ConfigKey,
        device_id: str,
        settings: UplinkSettings,
        metrics: AgentMetrics,
        credentials: grpc.ChannelCredentials | None = None,
        mqtt_check_s: float = MQTT_CHECK_S,
        on_applied: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.on_applied = on_applied
        self.target = target
        self.key = key
        self.device_id = device_id
        self.credentials = credentials
        self.mqtt_check_s = mqtt_check_s
        self._reported_mqtt: config_pb2.MqttStatus | None = None  # in the last report the relay acknowledged
        self.backoff = Backoff(settings.backoff_base_s, settings.backoff_max_s)
        self.applied_gauge = metrics.gauge("config", "applied_version", "The applied desired config version (0: edge.toml).")
        self.received = metrics.counter("config", "received_total", "Desired config versions received, by outcome.",
                                        ("outcome",))
        for outcome in store.Outcome:
            self.received.labels(str(outcome))
        self.reported = asyncio.Event()  # set after each report the relay acknowledged

    async def run(self, progress: Callable[[], None] = lambda: None) -> None:
        while True:
            try:
                await self._connection(progress)
            except grpc.aio.AioRpcError as exc:
                log.warning("config_watch_ended", code=exc.code().name, error=exc.details())
            delay = self.backoff.next_delay()
            await asyncio.sleep(delay)

    async def _connection(self, progress: Callable[[], None]) -> None:
        channel = relay_channel(self.target, self.credentials)
        try:
            stub = config_pb2_grpc.EdgeConfigStub(channel)
            await self._report(stub)
            applied = await asyncio.to_thread(store.current_version, self.sessions)
            self.applied_gauge.set(applied)
            mqtt_changes = asyncio.create_task(self._report_mqtt_changes(stub))
            try:
                async for desired in stub.Watch(config_pb2.WatchRequest(applied_version=applied)):
                    self.backoff.reset()
                    await self._apply(desired)
                    await self._report(stub)
                    progress()
            finally:
                mqtt_changes.cancel()
            log.info("config_watch_closed_by_relay")
        finally:
            await channel.close()

    async def _report_mqtt_changes(self, stub: config_pb2_grpc.EdgeConfigStub) -> None:
        while True:
            await asyncio.sleep(self.mqtt_check_s)
            if await asyncio.to_thread(mqtt_status.read, self.sessions) != self._reported_mqtt:
                try:
                    await self._report(stub)
                except grpc.aio.AioRpcError as exc:  # tried again at the next look; the watch sees a lost relay
                    log.warning("config_report_failed", code=exc.code().name, error=exc.details())

    async def _apply(self, desired: config_pb2.DesiredConfig) -> None:
        result = await asyncio.to_thread(store.apply, self.sessions, desired, self.key, self.device_id)
        self.received.labels(str(result.outcome)).inc()
        self.applied_gauge.set(result.applied_version)
        if result.outcome is store.Outcome.APPLIED:
            log.info("config_applied", version=result.version, cameras=len(desired.cameras), failed=list(result.failed))
            if self.on_applied is not None:
                try:
                    await self.on_applied()
                except Exception as exc:  # applied all the same; reported next
                    log.error("config_applied_hook_failed", error=str(exc))
        elif result.outcome is store.Outcome.UNCHANGED:
            log.info("config_unchanged", version=result.version)
        else:
            event = "config_refused" if result.outcome is store.Outcome.REFUSED else "config_stale"
            log.warning(event, version=result.version, applied=result.applied_version, reason=result.reason)

    async def _report(self, stub: config_pb2_grpc.EdgeConfigStub) -> None:
        report = await asyncio.to_thread(store.report, self.sessions, self.key)
        ack = await stub.Report(report, timeout=REPORT_TIMEOUT_S)
        self._reported_mqtt = report.mqtt if report.HasField("mqtt") else None
        log.info("config_reported", applied=report.applied_version, recorded=ack.recorded_version,
                 mqtt=report.mqtt.state or None)
        self.reported.set()
