"""What detection runs on: the inference device (``[detection] device``, default ``auto``) and the decoder of
each camera's detection stream (``[detection] decode``), as the service and ``guardian-edge hardware`` show them.

The device choice is a pure function, tested over device lists for every branch (a GPU can't be had here); the
real detector then compiles the real model on this machine's CPU for ``auto``, and falls back to it, with one
warning saying why, for a GPU that is not there or a device that cannot compile the model, and still finds the
people in the footage. The model slot says what it chose in its log and its metric; a camera's pipeline exports
its decode path (tests/edge/video/test_decode_path.py tests the decode choice and the reader's fallback).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from agents.edge.camera_config import store
from agents.edge.config import CameraSettings, EdgeSettings
from agents.edge.db import open_database
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.detector import Detector
from agents.edge.detection.device import choose_device
from agents.edge.detection.metrics import DetectorMetrics
from agents.edge.detection.model_slot import ModelSlot
from agents.edge.detection.pipeline import CameraPipeline
from agents.edge.detection.service import DetectionService
from agents.edge.events.manager import EventManager
from agents.edge.events.media import VideoMedia
from agents.edge.events.store import EventStore
from agents.edge.models.store import ModelStore
from guardian.runtime.errors import ConfigError
from guardian.runtime.logging import configure_logging
from guardian.runtime.metrics import AgentMetrics
from tests.conftest import FakeCamera
from tests.edge.camera_config.helpers import DEVICE, camera, desired
from tests.edge.video.helpers import FAST, wait_for

VENV_BIN = Path(sys.executable).parent

MINI_PC = ["CPU", "GPU"]  # OpenVINO on an Intel Mini PC with the GPU's compute runtime installed
WITH_NPU = ["CPU", "GPU", "NPU"]  # a Core Ultra


# -- the choice, over device lists -----------------------------------------------------------------
def test_auto_takes_the_gpu_when_openvino_lists_one():
    choice = choose_device("auto", MINI_PC)
    assert (choice.device, choice.fallback) == ("GPU", False)
    assert "lists a GPU" in choice.reason


def test_auto_takes_the_first_of_several_gpus_as_openvino_numbers_them():
    assert choose_device("auto", ["CPU", "GPU.0", "GPU.1"]).device == "GPU.0"


def test_auto_without_a_gpu_is_the_cpu_and_not_a_fallback():
    choice = choose_device("auto", ["CPU"])
    assert (choice.device, choice.fallback) == ("CPU", False)
    assert choice.reason == "auto: OpenVINO lists no GPU (CPU)"


def test_auto_never_takes_the_npu_by_itself():
    assert choose_device("auto", WITH_NPU).device == "GPU"
    assert choose_device("auto", ["CPU", "NPU"]).device == "CPU"


def test_an_explicit_npu_is_used_where_it_is_listed():
    assert choose_device("NPU", WITH_NPU) == choose_device("NPU", ["NPU", "CPU"])
    assert choose_device("NPU", WITH_NPU).device == "NPU"


@pytest.mark.parametrize("setting", ["GPU", "NPU", "GPU.1"])
def test_an_explicit_device_not_listed_falls_back_to_the_cpu_saying_why(setting):
    choice = choose_device(setting, ["CPU", "GPU.0"] if setting == "GPU.1" else ["CPU"])
    assert (choice.requested, choice.device, choice.fallback) == (setting, "CPU", True)
    assert choice.reason.startswith(f"{setting} is not among OpenVINO's devices (CPU")


def test_gpu_means_the_first_of_several_and_a_numbered_one_only_itself():
    assert choose_device("GPU", ["CPU", "GPU.0", "GPU.1"]).device == "GPU"
    assert choose_device("GPU.1", ["CPU", "GPU.0", "GPU.1"]).device == "GPU.1"


def test_cpu_and_openvinos_virtual_devices_are_taken_as_written():
    assert choose_device("CPU", MINI_PC).device == "CPU"
    for setting in ("AUTO", "AUTO:GPU,CPU", "MULTI:GPU,CPU", "HETERO:GPU,CPU"):
        choice = choose_device(setting, ["CPU"])
        assert (choice.device, choice.fallback) == (setting, False)


def test_the_setting_defaults_to_auto_and_refuses_what_openvino_would_not_know():
    assert DetectionSettings().device == "auto"
    for good in ("CPU", "GPU", "GPU.1", "NPU", "AUTO", "AUTO:GPU,CPU"):
        assert DetectionSettings(device=good).device == good
    for bad in ("gpu", "Auto", "TPU", "AUTO:"):
        with pytest.raises(ValueError, match="is not auto, CPU, GPU"):
            DetectionSettings(device=bad)


def test_a_bad_device_in_the_config_file_is_one_clear_line(tmp_path):
    from agents.edge.config import EdgeSettings
    from guardian.runtime.config import load_settings

    path = tmp_path / "edge.toml"
    path.write_text('[detection]\ndevice = "gpu"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(EdgeSettings, path)
    assert any("detection.device" in p and "'gpu' is not auto" in p for p in caught.value.problems)


# -- the real detector on this machine (OpenVINO lists the CPU only) ---------------------------------
@pytest.fixture
def logs():
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    yield lambda name: [json.loads(line) for line in stream.getvalue().splitlines()
                        if line.startswith("{") and json.loads(line)["event"] == name]
    configure_logging("INFO")


def _people(detector: Detector, footage: list[tuple[float, np.ndarray]]) -> int:
    """People found on a few frames of the campus footage (there are several in each)."""
    return sum(d.label == "person" for _, frame in footage[10:40:10] for d in detector.detect(frame))


def test_auto_compiles_on_this_machines_cpu_and_detects_people(model_store: ModelStore, footage, logs):
    stored = model_store.get("nanodet")
    detector = Detector(stored, model_store.load(stored), device="auto", num_requests=1)
    assert (detector.device_choice.requested, detector.device) == ("auto", "CPU")
    assert detector.compiled.get_property("EXECUTION_DEVICES") == ["CPU"]
    assert _people(detector, footage) >= 3
    assert logs("inference_device_fallback") == []  # auto without a GPU is no fallback


@pytest.mark.parametrize(("setting", "why"), [
    ("GPU", "GPU is not among OpenVINO's devices (CPU)"),  # not listed: the CPU without trying
    ("AUTO:GPU", "AUTO:GPU could not compile the model: [AUTO] compile model failed, GPU"),  # tried, refused
])
def test_a_device_that_is_not_there_falls_back_to_the_cpu_and_says_so_once(model_store: ModelStore, footage, logs,
                                                                             setting, why):
    stored = model_store.get("nanodet")
    detector = Detector(stored, model_store.load(stored), device=setting, num_requests=1)
    assert (detector.device_choice.requested, detector.device, detector.device_choice.fallback) == (setting, "CPU", True)
    assert detector.compiled.get_property("EXECUTION_DEVICES") == ["CPU"]
    assert detector.graph_postprocessing  # the CPU runs the whole graph, NMS included
    assert _people(detector, footage) >= 3
    [warning] = logs("inference_device_fallback")
    assert (warning["requested"], warning["device"], warning["level"]) == (setting, "CPU", "warning")
    assert warning["reason"].startswith(why)
    assert "Exception from src/" not in warning["reason"]  # OpenVINO's source locations left out


def test_the_model_slot_logs_and_exports_the_device_it_chose(model_store: ModelStore, logs):
    metrics = AgentMetrics("edge")
    slot = ModelSlot(model_store, DetectionSettings(device="GPU", infer_requests=1), DetectorMetrics(metrics),
                     lambda _result: None, lambda _detector: None)
    assert slot.check()
    try:
        assert slot.detector is not None
        manifest = slot.detector.manifest
        sample = metrics.registry.get_sample_value
        assert sample("guardian_edge_detection_device_info", {"requested": "GPU", "device": "CPU"}) == 1
        assert sample("guardian_edge_detection_model_info", {"name": "nanodet", "version": manifest.version,
                                                             "family": manifest.family, "device": "CPU"}) == 1
        [loaded] = logs("model_loaded")
        assert (loaded["requested"], loaded["device"]) == ("GPU", "CPU")
        assert loaded["device_reason"] == "GPU is not among OpenVINO's devices (CPU)"
    finally:
        slot.wait()


# -- the detection stream's decoder, per camera --------------------------------------------------------
def test_a_cameras_pipeline_exports_and_logs_its_decode_path(tmp_path: Path, fake_camera: FakeCamera, logs):
    settings = DetectionSettings(decode="qsv")  # asked for; this machine has no render node
    _, sessions = open_database(tmp_path / "edge.db")
    events = EventManager("front", EventStore(sessions), VideoMedia(sessions, tmp_path), tmp_path, "m@1",
                          settings.events)
    metrics = AgentMetrics("edge")
    pipeline = CameraPipeline(CameraSettings(name="front", record_url=fake_camera.url()), settings, events,
                              lambda _size: None, DetectorMetrics(metrics), threading.Event(), FAST)
    sample = metrics.registry.get_sample_value
    pipeline.start()
    try:
        # Frames read (no model: each one finds no detector, or no motion): the reader is running.
        wait_for(lambda: sum(sample("guardian_edge_detection_frames_total", {"camera": "front", "outcome": o}) or 0
                             for o in ("skipped_busy", "skipped_motion")) >= 3, 30, "frames read")
    finally:
        pipeline.close()
        pipeline.join(15)
    assert pipeline.failure is None
    paths = {p: sample("guardian_edge_detection_decode_path", {"camera": "front", "path": p})
             for p in ("software", "qsv", "vaapi")}
    assert paths == {"software": 1, "qsv": 0, "vaapi": 0}
    [said] = logs("decode_path")
    assert (said["camera"], said["requested"], said["path"]) == ("front", "qsv", "software")
    assert said["reason"] == "no render node (/dev/dri/renderD*)"


# -- guardian-edge hardware ----------------------------------------------------------------------------
def _hardware(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "guardian-edge"), "hardware", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_hardware_command_shows_what_this_machine_has_and_what_auto_chooses(tmp_path: Path):
    out = _hardware("-c", str(tmp_path / "none.toml"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "render nodes (/dev/dri): none" in lines
    assert "PyAV hardware device types: cuda, qsv, drm, amf" in lines
    assert any(line.startswith("  CPU: ") and len(line) > len("  CPU: ") for line in lines)  # its FULL_DEVICE_NAME
    assert "  inference (auto, device = 'auto'): CPU - auto: OpenVINO lists no GPU (CPU)" in lines
    assert "  decode (auto, decode = 'auto'): software - auto: no render node (/dev/dri/renderD*)" in lines


def test_the_hardware_command_shows_the_configured_choice_and_a_fake_intel_node(tmp_path: Path):
    dri, sysfs = tmp_path / "dri", tmp_path / "drm"
    (sysfs / "renderD128" / "device").mkdir(parents=True)
    (sysfs / "renderD128" / "device" / "vendor").write_text("0x8086\n")
    dri.mkdir()
    (dri / "renderD128").touch()
    config = tmp_path / "edge.toml"
    config.write_text('[detection]\ndevice = "GPU"\ndecode = "qsv"\n')
    out = _hardware("-c", str(config), "--dri-dir", str(dri), "--sysfs-drm", str(sysfs))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"render nodes ({dri}): renderD128 (vendor 0x8086, Intel)" in lines
    assert "  inference (configured, device = 'GPU'): CPU - GPU is not among OpenVINO's devices (CPU)" in lines
    assert ("  decode (auto, decode = 'auto'): software - auto: PyAV's FFmpeg has qsv but not vaapi, which QSV "
            "needs on Linux") in lines
    assert f"  decode (configured, decode = 'qsv'): qsv on {dri / 'renderD128'} - configured" in lines


def test_a_camera_no_longer_watched_takes_its_decode_path_with_it(model_store, tmp_path: Path,
                                                                  fake_camera: FakeCamera) -> None:
    """The detector's decode-path gauge of a camera removed from the config goes with the camera (it would go
    on saying "software: 1" for a camera that is gone); the camera still watched keeps its own."""
    settings = EdgeSettings(storage={"data_dir": tmp_path / "data"}, models={"store_dir": model_store.root})
    metrics = AgentMetrics("edge")
    service = DetectionService(settings, metrics, media=None)
    sample = metrics.registry.get_sample_value

    def path_of(camera: str) -> float | None:
        return sample("guardian_edge_detection_decode_path", {"camera": camera, "path": "software"})

    url = fake_camera.url()
    assert store.apply(service.sessions, desired(1, camera("front", url), camera("back", url)), None, DEVICE).outcome \
        is store.Outcome.APPLIED
    service.reload_cameras()
    service.start()
    try:
        wait_for(lambda: path_of("front") == 1 and path_of("back") == 1, 30, "both cameras decoding")
        assert store.apply(service.sessions, desired(2, camera("back", url)), None, DEVICE).outcome \
            is store.Outcome.APPLIED
        service.reload_cameras()
        assert path_of("front") is None and path_of("back") == 1
    finally:
        service.stop()
