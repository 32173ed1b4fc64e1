"""The detector picks up cameras from an applied desired config without a restart (issue #17), as the
recorder does: a camera added by config (with sealed credentials the camera requires) starts being
detected, one that cannot be reached does not hold the others up, a disabled one stops and its open
events end, and a changed mask applies to the running camera without restarting it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from agents.edge.camera_config import store
from agents.edge.camera_config.key import ConfigKey, config_key_path
from agents.edge.config import EdgeSettings
from agents.edge.detection.service import DetectorAgent
from guardian.contracts.edge.v1 import config_pb2
from tests.conftest import free_port
from tests.edge.camera_config.helpers import DEVICE, camera, desired, seal
from tests.edge.serving import serve_during

pytestmark = pytest.mark.slow

PASSWORD = "Detect-Reload-pw-7"
TIMEOUT = 90
WHOLE_PICTURE = config_pb2.Polygon(name="all", points=[config_pb2.Point(x=x, y=y) for x, y in
                                                      ((0, 0), (1, 0), (1, 1), (0, 1))])


async def until(check, what: str) -> None:
    """Poll ``check`` (in a thread: it may read the database) until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not await asyncio.to_thread(check):
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def test_cameras_added_changed_and_disabled_by_config_are_detected_without_a_restart(
    tmp_path: Path, fake_camera, fake_camera_factory, model_store
) -> None:
    data = tmp_path / "data"
    guarded = fake_camera_factory(user="admin", password=PASSWORD)
    settings = EdgeSettings(
        storage={"data_dir": data},
        metrics={"port": free_port()},
        models={"store_dir": model_store.root, "reload_interval_s": 1},
        recording={"segment_seconds": 2, "stall_timeout_s": 3, "open_timeout_s": 6, "backoff_max_s": 2},
        cameras=[{"name": "lab", "record_url": fake_camera.url()}],  # edge.toml's, until a desired config
    )
    key = ConfigKey.load_or_create(config_key_path(data))  # as the uplink makes it
    unreachable = f"rtsp://127.0.0.1:{free_port()}/cam"  # nothing listens there
    agent = DetectorAgent(settings)
    seen: dict[str, Any] = {}

    def pipeline(name: str):
        return agent.service.pipelines.get(name) if agent.service is not None else None

    def detected(name: str) -> bool:
        p = pipeline(name)
        return p is not None and p.last_result_at > 0

    async def scenario() -> None:
        await until(lambda: detected("lab"), "edge.toml's camera to be detected")
        assert agent.service is not None
        service = agent.service
        lab = service.pipelines["lab"]

        guarded_camera = camera("guarded", guarded.url(), seal(key, "admin", PASSWORD))
        v1 = desired(1, camera("lab", fake_camera.url()), guarded_camera, camera("away", unreachable))
        assert (await asyncio.to_thread(store.apply, service.sessions, v1, key, DEVICE)).outcome is store.Outcome.APPLIED
        await until(lambda: detected("guarded"), "the camera added by config to be detected")
        assert pipeline("away") is not None and pipeline("lab") is lab  # untouched: same stream, same pipeline
        added = service.pipelines["guarded"]
        # Its latest picture is kept for the owner's screens (from the frames detection decodes anyway).
        await until(lambda: (data / "pictures" / "guarded.jpg").is_file(), "the added camera's picture")
        await until(lambda: added.events.open, "an open event on the added camera")

        # v2: the added camera disabled, the whole picture of lab masked (rules only: lab keeps running).
        masked_lab = camera("lab", fake_camera.url(), detection=config_pb2.DetectionConfig(masks=[WHOLE_PICTURE]))
        guarded_camera.enabled = False
        v2 = desired(2, masked_lab, guarded_camera, camera("away", unreachable))
        await asyncio.to_thread(store.apply, service.sessions, v2, key, DEVICE)
        await until(lambda: pipeline("guarded") is None, "the disabled camera to stop")
        assert not (data / "pictures" / "guarded.jpg").exists()  # a camera no longer watched has no picture
        assert (data / "pictures" / "lab.jpg").is_file()
        await until(lambda: lab.rules.masks, "lab's new mask")
        assert pipeline("lab") is lab
        # Its open events end when it stops (not later, as leftovers of a lost run).
        await until(lambda: not added.events.open and added.events.counts.closed == added.events.counts.opened,
                    "the disabled camera's events to end")
        await until(lambda: all(e.ended for e in service.event_store.query(camera="guarded")),
                    "the disabled camera's events to be stored ended")
        # Masked everywhere: lab's open events end as their tracks expire, and no new one opens while
        # results keep coming (the next 10 s of frames).
        await until(lambda: not lab.events.open, "lab's open events to end under the mask")
        opened, since = lab.events.counts.opened, lab.last_result_at
        await until(lambda: lab.last_result_at > since + 10, "10 s more of lab's frames analysed")
        seen["opened"] = (opened, lab.events.counts.opened)
        seen["guarded_thread_alive"] = any(t.name == "detect-guarded" and t.is_alive() for t in threading.enumerate())

    assert serve_during(agent, scenario) == 0
    before, after = seen["opened"]
    assert after == before
    assert not seen["guarded_thread_alive"]
