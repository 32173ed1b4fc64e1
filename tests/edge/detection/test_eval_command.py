"""``guardian-edge models eval``: the installed model on a labelled set, through the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from agents.edge.cli import main
from agents.edge.db import open_database
from agents.edge.db.tables import Camera
from tests.edge.detection.conftest import CACHE

VENV_BIN = Path(sys.executable).parent
SETS = Path(__file__).parents[3] / "bench" / "detection_sets"


def _rows(report: str) -> dict[tuple[str, str], list[str]]:
    """(class, variant) → the row's remaining columns."""
    out = {}
    for line in report.splitlines():
        cells = line.split()
        if len(cells) == 13 and cells[0] not in ("class", "#"):
            out[(cells[0], cells[1])] = cells[2:]
    return out


def test_eval_reports_the_voc_scene_per_class_and_fit(model_store):
    """The three PASCAL VOC photos (two buses, a car, six people), both input fits side by side."""
    done = subprocess.run(
        [VENV_BIN / "guardian-edge", "models", "eval", SETS / "voc_photos" / "ground_truth.json",
         "--media", CACHE / "detection_sets", "--store", model_store.root, "--cache", CACHE,
         "--model", "nanodet", "--fit", "stretch,letterbox", "-c", "/nonexistent/edge.toml"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = _rows(done.stdout)
    assert "## voc_photos: 3 frames, 9 boxes (+0 ignored)" in done.stdout
    assert set(rows) == {(c, v) for c in ("person", "car", "bus", "person≥40", "vehicle") for v in ("stretch", "letterbox")}
    # Both buses are found at the config's vehicle threshold, with either fit; the one car never is.
    for fit in ("stretch", "letterbox"):
        gt, ap50, *_ = rows[("bus", fit)]
        assert (gt, ap50) == ("2", "100%")
        assert rows[("car", fit)][:2] == ["1", "0%"]
        assert rows[("person", fit)][0] == "6"


def test_eval_of_a_set_with_a_known_answer(model_store, astronaut_bgr, tmp_path, capsys):
    """A one-photo set whose only person is the astronaut: found, at every threshold, no false alarm."""
    Image.fromarray(astronaut_bgr[:, :, ::-1]).save(tmp_path / "astronaut.png")
    h, w = astronaut_bgr.shape[:2]
    truth = {
        "images": [{"id": 1, "file_name": "astronaut.png", "width": w, "height": h}],
        # The astronaut, drawn by hand (pixels): head to the bottom edge, left edge to her right arm.
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [18, 14, 352, 498], "area": 352 * 498,
                         "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person"}],
    }
    (tmp_path / "ground_truth.json").write_text(json.dumps(truth))
    assert main(["models", "eval", str(tmp_path / "ground_truth.json"), "--store", str(model_store.root),
                 "--model", "nanodet", "--fit", "letterbox", "--floor", "0.5", "-c", str(tmp_path / "none.toml")]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows[("person", "letterbox")][:2] == ["1", "100%"]
    precision, recall, false_alarms = rows[("person", "letterbox")][5:8]
    assert (precision, recall, false_alarms) == ("100%", "100%", "0.0")


def test_eval_names_missing_footage_in_one_line(model_store, tmp_path, capsys):
    truth = {"images": [{"id": 1, "file_name": "gone.mp4", "frame_index": 0, "width": 64, "height": 48}],
             "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    (tmp_path / "ground_truth.json").write_text(json.dumps(truth))
    code = main(["models", "eval", str(tmp_path / "ground_truth.json"), "--store", str(model_store.root),
                 "--model", "nanodet", "-c", str(tmp_path / "none.toml")])
    assert code == os.EX_NOINPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gone.mp4" in err[0] and "not found" in err[0]


def _edge_with_camera(tmp_path: Path, name: str, detection: dict) -> Path:
    """An edge config whose database holds the camera ``name`` with ``detection`` as its applied settings, as the
    desired config from the cloud leaves it."""
    config = tmp_path / "edge.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path}"\n')
    engine, sessions = open_database(tmp_path / "edge.db")
    with sessions.begin() as session:
        session.add(Camera(name=name, record_url="rtsp://192.0.2.7/stream", source="desired", config_state="applied",
                           detection_json=json.dumps(detection)))
    engine.dispose()
    return config


def test_eval_as_a_camera_runs_applies_its_mask_and_reports_at_its_thresholds(yolox_store, tmp_path, capsys):
    """vtest with the shipped model: the sign post at the top left is its one false alarm; the camera's mask over
    the post's foot (bench/detection_sets/vtest/camera.json) takes it away and nobody else; the camera's own
    threshold for cars is what P/R are measured at, while the curves still start at the floor."""
    store, _ = yolox_store
    detection = json.loads((SETS / "vtest" / "camera.json").read_text())
    detection["thresholds"] = [{"label": "car", "minScore": 0.99}]
    config = _edge_with_camera(tmp_path, "campus", detection)
    common = ["models", "eval", str(SETS / "vtest" / "ground_truth.json"), "--media", str(CACHE), "--store", str(store.root),
              "--model", "yolox-nano", "-c", str(config)]
    assert main(common) == 0
    plain = _rows(capsys.readouterr().out)
    assert main([*common, "--camera", "campus"]) == 0
    out = capsys.readouterr().out
    camera = _rows(out)
    assert "P/R at the camera's thresholds" in out
    assert set(camera) == {(c, "campus") for c in ("person", "car", "truck", "person≥40", "vehicle")}
    # Columns: GT AP50 APs APm APl P R FA/100f R@.3 R@1FA thr.
    assert float(plain[("person", "letterbox")][7]) > 0  # the post, seen without the mask
    assert camera[("person", "campus")][5:8] == ["100%", plain[("person", "letterbox")][6], "0.0"]
    assert camera[("person", "campus")][6] != "0%"
    # Cars at the camera's 0.99 are never found; the curve below it is unchanged.
    assert camera[("car", "campus")][6] == "0%" and plain[("car", "letterbox")][6] != "0%"
    assert camera[("car", "campus")][8] == plain[("car", "letterbox")][8]


def test_eval_of_an_unknown_camera_names_the_known_ones(yolox_store, tmp_path, capsys):
    store, _ = yolox_store
    config = _edge_with_camera(tmp_path, "campus", {})
    code = main(["models", "eval", str(SETS / "vtest" / "ground_truth.json"), "--media", str(CACHE),
                 "--store", str(store.root), "--model", "yolox-nano", "-c", str(config), "--camera", "garage"])
    assert code == os.EX_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'garage'" in err[0] and "campus" in err[0], err
