"""A camera's own network input size (issue #21): the detector keeps one compiled model per size in use,
shared by the cameras of that size, compiled when a camera first asks for it and released when none does;
each camera's frames go to its size's model; a config apply changes it without a restart; a newly
activated model is swapped in at every size; a size the model cannot take falls back to the default.

Real NanoDet from the store, the real footage through the test RTSP camera, real edge SQLite. What a model
runs at is read from the compiled model itself (its first convolution's input), not from our own fields.
"""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import weakref
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agents.edge.camera_config import store as config_store
from agents.edge.config import EdgeSettings
from agents.edge.detection.detector import Detector
from agents.edge.detection.service import DetectionService, DetectorAgent
from agents.edge.models.store import ModelStore
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.metrics import AgentMetrics
from tests.conftest import free_port
from tests.edge.camera_config.helpers import DEVICE, camera, desired
from tests.edge.serving import serve_during

FINE = 640  # the size the test camera asks for
DEFAULT = 416  # NanoDet's own


def network_input(detector: Detector) -> tuple[int, int]:
    """The height and width the compiled network runs at: its first convolution's input (after the
    preprocessing's resize, which takes frames of any size)."""
    for op in detector.compiled.get_runtime_model().get_ordered_ops():
        if op.get_rt_info()["layerType"].astype(str) == "Convolution":
            shape = op.input_value(0).get_partial_shape().to_shape()
            return int(shape[2]), int(shape[3])  # NanoDet is NCHW
    raise AssertionError("no convolution in the compiled model")


def sized(size: int = 0, tiles: tuple[int, int] | None = None) -> config_pb2.DetectionConfig:
    detection = config_pb2.DetectionConfig(input_size=size)
    if tiles is not None:
        detection.tiles.columns, detection.tiles.rows = tiles
    return detection


def gauge(registry: CollectorRegistry, size: int) -> float | None:
    return registry.get_sample_value("guardian_edge_detection_input_size_cameras", {"input_size": str(size)})


async def until(check, what: str, timeout: float = 120) -> None:
    """Poll ``check`` (in a thread: it may read the database) until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(check):
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def gone(ref: weakref.ref[Any]) -> bool:
    gc.collect()
    return ref() is None


@pytest.mark.slow
def test_two_cameras_at_two_sizes_on_the_footage_and_a_size_released_by_config(
    tmp_path: Path, fake_camera, model_store
) -> None:
    data = tmp_path / "data"
    settings = EdgeSettings(
        storage={"data_dir": data},
        metrics={"port": free_port()},
        models={"store_dir": model_store.root, "reload_interval_s": 1},
        recording={"segment_seconds": 2, "stall_timeout_s": 3, "open_timeout_s": 6, "backoff_max_s": 2},
    )
    agent = DetectorAgent(settings)
    registry = agent.metrics.registry
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        await until(lambda: agent.service is not None, "the service")
        service = agent.service
        assert service is not None
        v1 = desired(1, camera("plain", fake_camera.url(), detection=sized()),
                     camera("fine", fake_camera.url(), detection=sized(FINE)))
        assert config_store.apply(service.sessions, v1, None, DEVICE).outcome is config_store.Outcome.APPLIED

        def people(name: str) -> bool:
            return any(e.label == "person" for e in service.event_store.query(camera=name))

        await until(lambda: people("plain") and people("fine"), "people detected on both cameras")
        slot = service.slot
        assert sorted(slot.sizes) == [DEFAULT, FINE]
        default, fine = slot.detector_for(0), slot.detector_for(FINE)
        assert default is not None and fine is not None and fine is not default
        assert network_input(default) == (DEFAULT, DEFAULT) and network_input(fine) == (FINE, FINE)
        # The fine camera's pipeline submits to the 640 model (no other camera asks for it), and it is inferring.
        pipeline = service.pipelines["fine"]
        assert slot.detector_for(pipeline.rules.input_size) is fine
        assert slot.detector_for(service.pipelines["plain"].rules.input_size) is default
        before = fine.inferences

        def inferred_at_fine() -> int:
            at_fine = slot.sizes.get(FINE)
            return at_fine.inferences if at_fine is not None else 0

        await until(lambda: inferred_at_fine() > before + 5, "the fine camera's frames inferred at 640")
        assert (gauge(registry, DEFAULT), gauge(registry, FINE)) == (1, 1)

        # v2: the fine camera back to the default; the same pipeline keeps running on the default model and
        # the 640 model is released.
        v2 = desired(2, camera("plain", fake_camera.url(), detection=sized()),
                     camera("fine", fake_camera.url(), detection=sized(0)))
        assert config_store.apply(service.sessions, v2, None, DEVICE).outcome is config_store.Outcome.APPLIED
        released = weakref.ref(fine)
        del fine
        await until(lambda: sorted(slot.sizes) == [DEFAULT] and pipeline.rules.input_size == 0,
                    "the 640 model released and the camera's new rules")
        assert service.pipelines["fine"] is pipeline  # not restarted
        since = default.inferences
        last = pipeline.last_result_at
        await until(lambda: pipeline.last_result_at > last + 2, "the fine camera detected at the default size")
        assert default.inferences > since
        await until(lambda: gone(released), "the 640 model's memory freed")
        seen["gauges"] = (gauge(registry, DEFAULT), gauge(registry, FINE))

    assert serve_during(agent, scenario) == 0
    assert seen["gauges"] == (2, None)


class NoMedia:
    def snapshot(self, frame, box, snapshot, thumbnail):
        raise AssertionError("not used")

    def clip(self, camera, start, end, target, partial_ok=False):
        return None


def test_a_newly_activated_model_is_swapped_in_at_every_size_in_use(model_store, tmp_path, astronaut_bgr) -> None:
    """Hot swap with several sizes: the new model is compiled at the default and at each camera's size
    before any camera moves to it, the old ones are freed; a camera with tiles gets them at its size."""
    shutil.copytree(model_store.root, tmp_path / "models")
    models = ModelStore(tmp_path / "models")
    settings = EdgeSettings(storage={"data_dir": tmp_path / "data"}, models={"store_dir": models.root})
    service = DetectionService(settings, AgentMetrics("edge"), media=NoMedia())
    try:
        unreachable = f"rtsp://127.0.0.1:{free_port()}/cam"  # never read: the service is not started
        v1 = desired(1, camera("plain", unreachable), camera("tiled", unreachable, detection=sized(512, (2, 1))))
        assert config_store.apply(service.sessions, v1, None, DEVICE).outcome is config_store.Outcome.APPLIED
        service.reload_cameras()
        slot = service.slot
        assert {size: d.ref for size, d in slot.sizes.items()} == {DEFAULT: "nanodet@v1", 512: "nanodet@v1"}
        old = [weakref.ref(d) for d in slot.sizes.values()]

        v2 = models.root / "nanodet" / "v2"  # the same network as a new version, as a push would bring it
        shutil.copytree(models.root / "nanodet" / "v1", v2)
        manifest = json.loads((v2 / "manifest.json").read_text())
        (v2 / "manifest.json").write_text(json.dumps(manifest | {"version": "v2"}))
        models.activate("nanodet", "v2")
        assert service.check_reload() is True
        assert {size: d.ref for size, d in slot.sizes.items()} == {DEFAULT: "nanodet@v2", 512: "nanodet@v2"}
        tiled = slot.detector_for(service.pipelines["tiled"].rules.input_size)
        assert tiled is not None and network_input(tiled) == (512, 512)
        rules = service.pipelines["tiled"].rules
        assert rules.tiles is not None and rules.tiles.tiled
        assert any(d.label == "person" and d.score > 0.5 for d in tiled.detect(astronaut_bgr, rules.tiles))
        assert all(gone(ref) for ref in old)
    finally:
        service.stop()


def test_a_size_the_model_cannot_take_falls_back_to_the_default_once(model_store, tmp_path) -> None:
    """A size the model cannot run at (here not a multiple of NanoDet's stride, which the apply refuses but a
    reshape could too) is said once, and its cameras are detected by the default model meanwhile."""
    settings = EdgeSettings(storage={"data_dir": tmp_path / "data"}, models={"store_dir": model_store.root})
    metrics = AgentMetrics("edge")
    service = DetectionService(settings, metrics, media=NoMedia())
    try:
        slot = service.slot
        slot.use_sizes([0, 600])
        assert slot.detector_for(600) is slot.detector and sorted(slot.sizes) == [DEFAULT]
        refused = metrics.registry.get_sample_value("guardian_edge_detection_model_loads_total", {"result": "refused"})
        slot.use_sizes([0, 600, 600])  # another camera at that size: not tried again
        assert metrics.registry.get_sample_value(
            "guardian_edge_detection_model_loads_total", {"result": "refused"}) == refused == 1
        assert (gauge(metrics.registry, DEFAULT), gauge(metrics.registry, 600)) == (3, None)
    finally:
        service.stop()
