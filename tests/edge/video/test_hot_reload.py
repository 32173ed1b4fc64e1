"""The recorder picks up cameras from an applied desired config without a restart: a camera added by config
(with sealed credentials the camera requires) starts recording, a disabled one stops, the other camera runs
on throughout; the password is never in the logs or the database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agents.edge.camera_config import store
from agents.edge.camera_config.key import ConfigKey, config_key_path
from agents.edge.config import EdgeSettings
from agents.edge.video.cameras import list_cameras
from agents.edge.video.service import RecorderAgent
from tests.conftest import free_port
from tests.edge.camera_config.helpers import DEVICE, camera, desired, seal
from tests.edge.serving import serve_during

from .helpers import JsonLogs

pytestmark = pytest.mark.slow

PASSWORD = "Hot-Reload-pw-42"
TIMEOUT = 60


async def until(check, what: str) -> None:
    """Poll ``check`` (run in a thread: it reads the database) until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not await asyncio.to_thread(check):
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def test_a_camera_added_by_config_records_without_a_restart(tmp_path: Path, fake_camera, fake_camera_factory,
                                                            json_logs: JsonLogs) -> None:
    data = tmp_path / "data"
    guarded = fake_camera_factory(user="admin", password=PASSWORD)
    settings = EdgeSettings(
        storage={"data_dir": data},
        metrics={"port": free_port()},
        recording={"segment_seconds": 2, "stall_timeout_s": 3, "open_timeout_s": 6},
        retention={"min_free_bytes": 0, "min_free_percent": 0, "interval_s": 1},
        cameras=[{"name": "lab", "record_url": fake_camera.url()}],  # edge.toml's, until a desired config
    )
    key = ConfigKey.load_or_create(config_key_path(data))  # as the uplink makes it
    agent = RecorderAgent(settings)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        await until(lambda: agent.store is not None and agent.store.segments("lab"), "edge.toml's camera to record")
        assert agent.store is not None
        sessions = agent.store.sessions
        lab_task = agent._tasks["lab"]

        v1 = desired(1, camera("lab", fake_camera.url()),
                     camera("guarded", guarded.url(), seal(key, "admin", PASSWORD), display_name="Guarded"))
        assert (await asyncio.to_thread(store.apply, sessions, v1, key, DEVICE)).outcome is store.Outcome.APPLIED
        await until(lambda: agent.store.segments("guarded"), "the camera added by config to record")
        assert agent._tasks["lab"] is lab_task  # untouched: same stream, same task

        v2 = desired(2, camera("lab", fake_camera.url()), camera("guarded", guarded.url(), seal(key, "admin", PASSWORD),
                                                                enabled=False))
        await asyncio.to_thread(store.apply, sessions, v2, key, DEVICE)
        # Stopped once its recorder is gone and its last status saved (the log line comes last).
        await until(lambda: "guarded" not in agent.recorders and json_logs.events("camera_stopped", camera="guarded"),
                    "the disabled camera to stop")
        recorded = len(agent.store.segments("guarded"))
        await until(lambda: len(agent.store.segments("lab")) >= 3, "the other camera to record on")
        seen["rows"] = {c.name: (c.state, c.enabled) for c in await asyncio.to_thread(list_cameras, sessions)}
        seen["guarded_after_stop"] = (recorded, len(agent.store.segments("guarded")))
        assert agent._tasks["lab"] is lab_task

    assert serve_during(agent, scenario) == 0
    assert seen["rows"]["guarded"] == ("stopped", False)
    recorded, after = seen["guarded_after_stop"]
    assert recorded >= 1 and after == recorded
    assert json_logs.events("camera_started", camera="guarded") and json_logs.events("camera_stopped", camera="guarded")
    assert PASSWORD not in json_logs.stream.getvalue()
    assert not any(PASSWORD.encode() in p.read_bytes() for p in data.glob("edge.db*"))
