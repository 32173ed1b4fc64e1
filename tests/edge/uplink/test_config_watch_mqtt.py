"""The uplink reports the detector's MQTT connection state (issue #20): with each report, and again when the
detector records a change — once per change, not for each of the publisher's retries. Against a real gRPC
server standing in for the relay's EdgeConfig service (test_config_watch.py's)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agents.edge.camera_config import mqtt_status
from agents.edge.camera_config.key import ConfigKey, config_key_path
from agents.edge.db import open_database
from agents.edge.uplink.config import UplinkSettings
from agents.edge.uplink.config_watch import ConfigWatch
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.metrics import AgentMetrics
from tests.conftest import free_port
from tests.edge.camera_config.helpers import DEVICE
from tests.edge.uplink.test_config_watch import TIMEOUT, FakeRelay, serve

TLS_ERROR = "the broker's certificate was refused: self-signed certificate in certificate chain"


def test_the_mqtt_state_is_reported_when_it_changes_and_only_then(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _engine, sessions = open_database(data / "edge.db")
    key = ConfigKey.load_or_create(config_key_path(data))
    port = free_port()

    async def scenario() -> None:
        relay = FakeRelay()
        server = await serve(relay, port)
        settings = UplinkSettings(backoff_base_s=0.05, backoff_max_s=0.2)
        watch = ConfigWatch(sessions, f"127.0.0.1:{port}", key, DEVICE, settings, AgentMetrics("edge"), mqtt_check_s=0.05)
        task = asyncio.create_task(watch.run())

        async def report() -> config_pb2.ConfigReport:
            return await asyncio.wait_for(relay.reports.get(), TIMEOUT)

        try:
            assert not (await report()).HasField("mqtt")  # the detector has said nothing yet
            await asyncio.to_thread(mqtt_status.save, sessions, "failing", TLS_ERROR)
            failing = await report()
            assert (failing.mqtt.state, failing.mqtt.error) == ("failing", TLS_ERROR)
            for _ in range(3):  # the publisher retries with the same reason: nothing is stored, nothing sent
                await asyncio.to_thread(mqtt_status.save, sessions, "failing", TLS_ERROR)
            await asyncio.to_thread(mqtt_status.save, sessions, "connected")
            connected = await report()
            assert (connected.mqtt.state, connected.mqtt.error) == ("connected", "")
            assert relay.reports.empty()
        finally:
            task.cancel()
            await server.stop(None)

    asyncio.run(scenario())
