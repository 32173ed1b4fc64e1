"""Fixtures for the ONVIF tests: a camera LAN (network namespaces) with the RTSP fake camera on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .lan import CameraLan


@pytest.fixture
def camera_lan(footage_mp4: Path) -> Iterator[tuple[CameraLan, str]]:
    """The LAN and the stream URL of the RTSP fake camera on it; add ONVIF cameras per test."""
    with CameraLan() as lan:
        yield lan, lan.start_rtsp_camera(footage_mp4)
