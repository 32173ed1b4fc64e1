"""The model store: validation on load, refusal of bad models, hot reload keeping the previous model."""

from __future__ import annotations

import json
import shutil

import pytest

from agents.edge.config import EdgeSettings
from agents.edge.detection.service import DetectionService
from agents.edge.models.errors import ModelValidationError
from agents.edge.models.fetch import ssdlite_graph
from agents.edge.models.labels import COCO80
from agents.edge.models.store import ModelStore
from guardian.runtime.metrics import AgentMetrics


class NoMedia:
    def snapshot(self, frame, box, snapshot, thumbnail):
        raise AssertionError("not used")

    def clip(self, camera, start, end, target, partial_ok=False):
        return None


def _copy_store(model_store: ModelStore, tmp_path) -> ModelStore:
    shutil.copytree(model_store.root, tmp_path / "models")
    return ModelStore(tmp_path / "models")


def test_wrong_family_shape_is_refused_with_a_clear_error(model_store, tmp_path):
    store = _copy_store(model_store, tmp_path)
    with pytest.raises(ModelValidationError, match="NanoDet needs 6 outputs"):
        store.import_file(ssdlite_graph(), name="wrong", family="nanodet", labels=list(COCO80))
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"\x08\x07this is not a model")
    with pytest.raises(ModelValidationError, match="not a model OpenVINO can read"):
        store.import_file(bad, name="garbage", family="yolov8", labels=list(COCO80))
    assert [m.manifest.name for m in store.versions()] == ["nanodet", "ssdlite-person"]


def test_corrupt_version_is_refused_and_running_model_keeps_working(model_store, tmp_path, astronaut_bgr):
    store = _copy_store(model_store, tmp_path)
    settings = EdgeSettings(storage={"data_dir": tmp_path / "data"}, models={"store_dir": store.root})
    service = DetectionService(settings, AgentMetrics("edge"), media=NoMedia())
    try:
        assert service.detector is not None
        assert service.detector.ref == "nanodet@v1"
        # An operator drops a damaged copy in as v2 and points the store at it directly.
        v2 = store.root / "nanodet" / "v2"
        shutil.copytree(store.root / "nanodet" / "v1", v2)
        manifest = json.loads((v2 / "manifest.json").read_text())
        (v2 / "manifest.json").write_text(json.dumps(manifest | {"version": "v2"}))
        blob = bytearray((v2 / "model.bin").read_bytes())
        blob[1000:1100] = b"\xff" * 100
        (v2 / "model.bin").write_bytes(bytes(blob))
        with pytest.raises(ModelValidationError, match="sha256 does not match"):
            store.activate("nanodet", "v2")
        (store.root / "active.json").write_text(json.dumps({"name": "nanodet", "version": "v2"}))
        assert service.check_reload() is False
        assert service.detector is not None
        assert service.detector.ref == "nanodet@v1"
        assert any(d.label == "person" and d.score > 0.5 for d in service.detector.detect(astronaut_bgr))
        # A valid activation is swapped in without a restart.
        store.activate("ssdlite-person")
        assert service.check_reload() is True
        assert service.detector is not None
        assert service.detector.ref == "ssdlite-person@v1"
        assert any(d.label == "person" and d.score > 0.5 for d in service.detector.detect(astronaut_bgr))
        assert service.metrics.reloads.labels("refused")._value.get() == 1
    finally:
        service.stop()


def test_wrong_shaped_ir_in_store_is_refused(model_store, tmp_path):
    """A version whose files are intact but whose graph does not fit its manifest/family."""
    store = _copy_store(model_store, tmp_path)
    ssd = store.get("ssdlite-person")
    fake = store.root / "nanodet" / "v3"
    shutil.copytree(ssd.path, fake)
    manifest = json.loads((fake / "manifest.json").read_text())
    nano = store.get("nanodet").manifest
    (fake / "manifest.json").write_text(json.dumps(
        manifest | {"name": "nanodet", "version": "v3", "family": "nanodet", "labels": nano.labels}
    ))
    with pytest.raises(ModelValidationError, match="input must have 3 channels in NCHW"):
        store.load(store.get("nanodet", "v3"))
    assert store.get("nanodet", "v1").manifest.family == "nanodet"
