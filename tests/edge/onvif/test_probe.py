"""``guardian-edge cameras probe URL`` against the real RTSP fake camera, a closed port and a silent one."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from tests.conftest import FakeCamera, free_port

GUARDIAN_EDGE = str(Path(sys.executable).with_name("guardian-edge"))
PASSWORD = "Wr0ng-or-right-s3cret"


def probe(url: str, *extra: str, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    proc = subprocess.run([GUARDIAN_EDGE, "cameras", "probe", url, "--timeout", "3", "--log-level", "DEBUG", *extra],
                          capture_output=True, text=True, timeout=60, env=env)
    return proc.returncode, json.loads(proc.stdout), proc.stdout + proc.stderr


@pytest.mark.slow
def test_reports_codec_and_size_of_the_test_camera(fake_camera: FakeCamera, footage_mp4: Path) -> None:
    with av.open(str(footage_mp4)) as footage:
        expected = footage.streams.video[0].codec_context
        size = (expected.width, expected.height)

    code, result, _ = probe(fake_camera.url())

    assert code == 0 and result["ok"] is True
    assert result["stream"]["codec"] == "h264"
    assert (result["stream"]["width"], result["stream"]["height"]) == size


@pytest.mark.slow
def test_wrong_password_is_auth_failed_and_never_shown(fake_camera_factory) -> None:
    camera = fake_camera_factory(user="viewer", password="the-real-one")

    code, result, output = probe(camera.url(user="viewer", password=PASSWORD))

    assert code == 1 and result["error"]["kind"] == "auth_failed"
    assert PASSWORD not in output
    assert result["url"] == f"rtsp://***@127.0.0.1:{camera.port}/cam"


@pytest.mark.slow
def test_password_from_the_environment_opens_a_protected_stream(fake_camera_factory) -> None:
    camera = fake_camera_factory(user="viewer", password=PASSWORD)

    code, result, output = probe(camera.url(), "--user", "viewer", env={"GUARDIAN_CAMERA_PASSWORD": PASSWORD})

    assert code == 0 and result["stream"]["codec"] == "h264"
    assert PASSWORD not in output


def test_closed_port_is_unreachable() -> None:
    code, result, _ = probe(f"rtsp://127.0.0.1:{free_port()}/cam")

    assert code == 1 and result["error"]["kind"] == "unreachable"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung camera)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_silent_camera_is_a_timeout(silent_server: int) -> None:
    code, result, _ = probe(f"rtsp://127.0.0.1:{silent_server}/cam")

    assert code == 1 and result["error"]["kind"] == "timeout"


@pytest.mark.slow
def test_wrong_path_is_not_found(fake_camera: FakeCamera) -> None:
    code, result, _ = probe(fake_camera.url("/nope"))

    assert code == 1 and result["error"]["kind"] == "not_found"
