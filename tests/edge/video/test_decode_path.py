"""The detection stream's decoder: software, Intel Quick Sync (qsv) or VAAPI (``[detection] decode``).

The choice is a pure function over the render nodes and PyAV's hardware device types, tested for every branch.
This machine has no /dev/dri and PyAV's wheel has qsv but no vaapi, so the real reader is shown here falling
back: ``qsv`` without a render node decodes in software from the start, saying why; ``qsv`` given a fake render
node (an injected directory) really tries the device, PyAV refuses it, and the reader says so once and stays
on software across reconnects; a hardware decoder that fails while decoding hands over to software at the next
keyframe. A decoder made beside the container's own, as the hardware one is, decodes the footage exactly as
the container's does.
"""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest

from agents.edge.video import frames as frames_module
from agents.edge.video.decode_path import (
    DecodeChoice,
    RenderNode,
    choose_decode,
    hw_device_types,
    render_nodes,
    select_decode,
)
from agents.edge.video.frames import FrameReader, decoder_like
from agents.edge.video.status import CameraState
from tests.conftest import FakeCamera

from .helpers import FAST, JsonLogs, wait_for

INTEL = RenderNode(Path("/dev/dri/renderD128"), "0x8086")
AMD = RenderNode(Path("/dev/dri/renderD128"), "0x1002")
WHEEL = ["cuda", "qsv", "drm", "amf"]  # PyAV 18's PyPI wheel
DEBIAN = ["vdpau", "cuda", "vaapi", "qsv", "drm", "opencl", "vulkan"]  # an FFmpeg built with VAAPI and oneVPL


# -- the choice ------------------------------------------------------------------------------------
def test_software_is_software_whatever_the_box_has():
    assert choose_decode("software", [INTEL], DEBIAN) == DecodeChoice("software", "software", "configured")


def test_auto_without_a_render_node_decodes_in_software():
    choice = choose_decode("auto", [], DEBIAN)
    assert (choice.path, choice.device, choice.reason) == ("software", None, "auto: no render node (/dev/dri/renderD*)")


def test_auto_on_an_intel_node_prefers_quick_sync_when_ffmpeg_has_qsv_and_vaapi():
    choice = choose_decode("auto", [INTEL], DEBIAN)
    assert (choice.path, choice.device) == ("qsv", "/dev/dri/renderD128")
    assert choice.hardware


def test_auto_on_an_intel_node_takes_vaapi_when_ffmpeg_has_no_qsv():
    choice = choose_decode("auto", [INTEL], ["vaapi", "drm"])
    assert (choice.path, choice.device) == ("vaapi", "/dev/dri/renderD128")


def test_auto_with_the_pypi_wheel_stays_in_software_saying_qsv_needs_vaapi():
    choice = choose_decode("auto", [INTEL], WHEEL)
    assert choice.path == "software"
    assert choice.reason == "auto: PyAV's FFmpeg has qsv but not vaapi, which QSV needs on Linux"


def test_auto_on_another_vendors_node_takes_vaapi_only():
    assert choose_decode("auto", [AMD], DEBIAN).path == "vaapi"
    choice = choose_decode("auto", [AMD], WHEEL)
    assert (choice.path, choice.reason) == ("software", "auto: PyAV's FFmpeg was built without vaapi")


def test_auto_picks_the_intel_node_beside_another_card():
    card = RenderNode(Path("/dev/dri/renderD128"), "0x10de")
    igpu = RenderNode(Path("/dev/dri/renderD129"), "0x8086")
    assert choose_decode("auto", [card, igpu], DEBIAN).device == "/dev/dri/renderD129"
    assert choose_decode("auto", [card, igpu], ["vaapi"]) == DecodeChoice(
        "auto", "vaapi", "auto: a render node, FFmpeg with vaapi", "/dev/dri/renderD129")


def test_an_explicit_path_ffmpeg_lacks_or_without_a_node_is_software_with_the_reason():
    assert choose_decode("vaapi", [INTEL], WHEEL).reason == "PyAV's FFmpeg was built without vaapi"
    assert choose_decode("qsv", [INTEL], ["vaapi"]).reason == "PyAV's FFmpeg was built without qsv"
    choice = choose_decode("qsv", [], WHEEL)
    assert (choice.path, choice.reason) == ("software", "no render node (/dev/dri/renderD*)")


def test_an_explicit_path_is_tried_wherever_it_might_work():
    # The operator asked for it: tried even without vaapi (the reader falls back if the device won't open).
    assert choose_decode("qsv", [INTEL], WHEEL) == DecodeChoice("qsv", "qsv", "configured", "/dev/dri/renderD128")
    assert choose_decode("vaapi", [AMD], DEBIAN).path == "vaapi"


def test_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="unknown decode setting"):
        choose_decode("nvdec", [INTEL], DEBIAN)


def fake_node(tmp_path: Path, vendor: str | None = "0x8086", name: str = "renderD128") -> tuple[Path, Path]:
    """A render node that is a plain file (no device behind it) in its own /dev/dri and sysfs."""
    dri, sysfs = tmp_path / "dri", tmp_path / "drm"
    dri.mkdir(exist_ok=True)
    (dri / name).touch()
    if vendor is not None:
        (sysfs / name / "device").mkdir(parents=True)
        (sysfs / name / "device" / "vendor").write_text(f"{vendor}\n")
    return dri, sysfs


def test_render_nodes_are_read_with_their_vendor_from_injected_directories(tmp_path):
    dri, sysfs = fake_node(tmp_path, name="renderD129")
    fake_node(tmp_path, vendor=None, name="renderD128")
    (dri / "card0").touch()  # a primary node is not a render node
    assert render_nodes(dri, sysfs) == [RenderNode(dri / "renderD128", None), RenderNode(dri / "renderD129", "0x8086")]
    assert render_nodes(tmp_path / "nowhere", sysfs) == []


def test_this_machine_decodes_in_software():
    assert not Path("/dev/dri").exists()  # FACTS: no GPU here
    assert "vaapi" not in hw_device_types() and "qsv" in hw_device_types()
    assert select_decode("auto") == DecodeChoice("auto", "software", "auto: no render node (/dev/dri/renderD*)")
    assert select_decode("qsv") == DecodeChoice("qsv", "software", "no render node (/dev/dri/renderD*)")


# -- the reader ------------------------------------------------------------------------------------
def _read(reader: FrameReader, count: int) -> list[np.ndarray]:
    pictures = []
    for frame in reader:
        pictures.append(frame.bgr())
        if len(pictures) >= count:
            break
    return pictures


def test_qsv_without_a_render_node_reads_in_software_and_says_why(fake_camera: FakeCamera, json_logs: JsonLogs):
    told: list[DecodeChoice] = []
    reader = FrameReader("front", fake_camera.url(), fps=5.0, options=FAST, decode=select_decode("qsv"),
                         on_decode=told.append)
    try:
        pictures = _read(reader, 5)
    finally:
        reader.close()
    assert len(pictures) == 5 and pictures[0].shape == (576, 768, 3)
    assert [c.path for c in told] == ["software"] and reader.decode.reason == "no render node (/dev/dri/renderD*)"
    [said] = json_logs.events("decode_path")
    assert (said["camera"], said["requested"], said["path"], said["reason"]) == (
        "front", "qsv", "software", "no render node (/dev/dri/renderD*)")
    assert json_logs.events("hardware_decode_failed") == []  # nothing was tried


def test_a_device_that_will_not_open_falls_back_to_software_once_and_for_good(
        tmp_path: Path, fake_camera: FakeCamera, json_logs: JsonLogs):
    dri, sysfs = fake_node(tmp_path)
    choice = select_decode("qsv", dri, sysfs)
    assert (choice.path, choice.device) == ("qsv", str(dri / "renderD128"))  # tried for real: PyAV refuses it
    told: list[DecodeChoice] = []
    reader = FrameReader("front", fake_camera.url(), fps=5.0, options=FAST, decode=choice, on_decode=told.append)
    frames = iter(reader)

    def outage() -> None:  # the next session opens the stream afresh
        fake_camera.stop()
        wait_for(lambda: reader.status().state == CameraState.FAILED, 30, "the reader to see the outage")
        fake_camera.start()

    try:
        first = [next(frames) for _ in range(5)]
        assert reader.decode.path == "software"
        camera = threading.Thread(target=outage)
        camera.start()
        again = [next(frames) for _ in range(10)]  # a few read before the outage, the rest after it
        camera.join()
    finally:
        reader.close()
    assert len(first) == 5 and len(again) == 10
    assert len(json_logs.events("stream_open")) == 2
    assert [c.path for c in told] == ["qsv", "software"]  # no second attempt on the new session
    assert reader.decode.reason.startswith("qsv failed: qsv device ")
    [warning] = json_logs.events("hardware_decode_failed")
    assert (warning["camera"], warning["path"], warning["now"], warning["level"]) == ("front", "qsv", "software", "warning")
    # The wheel's FFmpeg cannot open QSV on Linux at all (no VAAPI underneath): ENOSYS, and the reason says so.
    assert "did not open" in warning["reason"] and "QSV needs an FFmpeg built with VAAPI" in warning["reason"]


def test_a_hardware_decoder_failing_mid_stream_hands_over_to_software_at_a_keyframe(
        fake_camera: FakeCamera, json_logs: JsonLogs, monkeypatch: pytest.MonkeyPatch):
    # What a GPU decoder that stops working does, played by a real decoder of the wrong codec (HEVC fed
    # H.264 refuses the stream's packets): the reader's own handling is what is under test.
    monkeypatch.setattr(frames_module, "open_hw_decoder", lambda stream, choice: decoder_like(stream.codec_context, "hevc"))
    told: list[DecodeChoice] = []
    reader = FrameReader("front", fake_camera.url(), fps=5.0, options=FAST,
                         decode=DecodeChoice("vaapi", "vaapi", "configured", "/dev/dri/renderD128"), on_decode=told.append)
    frames = iter(reader)
    try:
        read = [next(frames) for _ in range(5)]
    finally:
        reader.close()
    # Software took over at the next keyframe, not mid-GOP (its references are not in the new decoder).
    assert read[0].keyframe and read[0].pts_s > 0
    assert [c.path for c in told] == ["vaapi", "software"]
    assert reader.decode.reason.startswith("vaapi failed: decoding: ")
    assert len(json_logs.events("hardware_decode_failed")) == 1


def test_a_decoder_made_beside_the_containers_decodes_the_footage_identically(footage_mp4: Path):
    with av.open(str(footage_mp4)) as ours, av.open(str(footage_mp4)) as theirs:
        stream = ours.streams.video[0]
        decoder = decoder_like(stream.codec_context, stream.codec_context.name)
        reference = theirs.decode(video=0)
        compared = 0
        for packet in ours.demux(stream):
            for frame in decoder.decode(packet):
                expected = next(reference)
                assert frame.pts == expected.pts
                assert np.array_equal(frame.to_ndarray(format="bgr24"), expected.to_ndarray(format="bgr24"))
                compared += 1
            if compared >= 60:
                break
    assert compared >= 60
