"""The uplink's desired-config watch against a real gRPC server standing in for the relay's EdgeConfig
service: reports at start (with the config key), applies what is watched and reports it, ignores a reapply
and an older version, reconnects from its applied version, and never lets a camera password out."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from agents.edge.camera_config.cameras import KeySource, runnable_cameras
from agents.edge.camera_config.key import ConfigKey, config_key_path
from agents.edge.db import open_database
from agents.edge.uplink.config import UplinkSettings
from agents.edge.uplink.config_watch import ConfigWatch
from guardian.contracts.edge.v1 import config_pb2, config_pb2_grpc
from guardian.runtime.logging import configure_logging
from guardian.runtime.metrics import AgentMetrics
from tests.conftest import free_port
from tests.edge.camera_config.helpers import DEVICE, camera, desired, seal

PASSWORD = "Cam-Pa55word-xyz"
TIMEOUT = 30


class FakeRelay(config_pb2_grpc.EdgeConfigServicer):
    """The relay's side in a few lines: hands down what the test queues, keeps what the edge reports."""

    def __init__(self) -> None:
        self.configs: asyncio.Queue[config_pb2.DesiredConfig] = asyncio.Queue()
        self.reports: asyncio.Queue[config_pb2.ConfigReport] = asyncio.Queue()
        self.watched_from: asyncio.Queue[int] = asyncio.Queue()

    async def Watch(self, request: config_pb2.WatchRequest, context: grpc.aio.ServicerContext
                    ) -> AsyncIterator[config_pb2.DesiredConfig]:
        await self.watched_from.put(request.applied_version)
        while True:
            yield await self.configs.get()

    async def Report(self, request: config_pb2.ConfigReport, context: grpc.aio.ServicerContext) -> config_pb2.ReportAck:
        await self.reports.put(request)
        return config_pb2.ReportAck(recorded_version=request.applied_version)


async def serve(relay: FakeRelay, port: int) -> grpc.aio.Server:
    server = grpc.aio.server()
    config_pb2_grpc.add_EdgeConfigServicer_to_server(relay, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


def test_the_edge_applies_what_the_relay_hands_down_and_reports_it(tmp_path: Path) -> None:
    logs = io.StringIO()
    configure_logging("DEBUG", stream=logs)
    data = tmp_path / "data"
    _engine, sessions = open_database(data / "edge.db")
    key = ConfigKey.load_or_create(config_key_path(data))
    port = free_port()

    async def scenario() -> None:
        relay = FakeRelay()
        server = await serve(relay, port)
        settings = UplinkSettings(backoff_base_s=0.05, backoff_max_s=0.2)
        applies: list[list[str]] = []  # the cameras runnable each time on_applied ran (the uplink's live view)

        async def on_applied() -> None:
            applies.append([c.name for c in runnable_cameras(sessions)])

        watch = ConfigWatch(sessions, f"127.0.0.1:{port}", key, DEVICE, settings, AgentMetrics("edge"),
                            on_applied=on_applied)
        task = asyncio.create_task(watch.run())

        async def report() -> config_pb2.ConfigReport:
            return await asyncio.wait_for(relay.reports.get(), TIMEOUT)

        try:
            first = await report()  # at start, before anything is applied
            assert first.applied_version == 0 and first.config_key.key_id == key.key_id
            assert first.config_key.public_key == key.public_key and first.device_id == ""
            assert await asyncio.wait_for(relay.watched_from.get(), TIMEOUT) == 0

            await relay.configs.put(desired(1, camera("front", "rtsp://10.0.0.5/main", seal(key, "admin", PASSWORD)),
                                            camera("broken", "rtsp://admin:pw@10.0.0.6/main")))
            applied = await report()
            assert applied.applied_version == 1
            assert [(c.camera, c.state) for c in applied.cameras] == [("broken", "failed"), ("front", "applied")]

            await relay.configs.put(desired(1, camera("front", "rtsp://10.0.0.5/main")))  # the same version again
            assert (await report()).applied_version == 1
            await relay.configs.put(desired(2, camera("front", "rtsp://10.0.0.5/main", seal(key, "admin", PASSWORD))))
            assert (await report()).applied_version == 2
            await relay.configs.put(desired(1, camera("old", "rtsp://10.0.0.9/main")))  # older: refused
            assert (await report()).applied_version == 2
            assert [c.name for c in runnable_cameras(sessions)] == ["front"]
            assert applies == [["front"], ["front"]]  # after each version applied (1, 2), not the repeat or the old one

            # The relay restarts: the edge reconnects, reports, and watches from what it applied.
            await server.stop(None)
            server = await serve(relay, port)
            assert (await report()).applied_version == 2
            assert await asyncio.wait_for(relay.watched_from.get(), TIMEOUT) == 2
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await server.stop(None)

    try:
        asyncio.run(scenario())
    finally:
        configure_logging("INFO")
    [spec] = runnable_cameras(sessions)
    assert PASSWORD in spec.record_stream_url(KeySource(config_key_path(data)))  # it is there, sealed
    assert PASSWORD not in logs.getvalue() and "config_applied" in logs.getvalue()
    assert not any(PASSWORD.encode() in p.read_bytes() for p in data.glob("edge.db*"))
