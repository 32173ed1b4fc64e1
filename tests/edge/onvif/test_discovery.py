"""``guardian-edge cameras discover`` against simulated ONVIF cameras on a namespace LAN."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .lan import CameraLan

GUARDIAN_EDGE = str(Path(sys.executable).with_name("guardian-edge"))
PASSWORD = "Corr3ct-h0rse-battery"
PROBE_TIMEOUT_S = 2.0

pytestmark = pytest.mark.slow


def discover(lan: CameraLan, tmp_path: Path, password: str | None) -> tuple[dict, str]:
    args = [GUARDIAN_EDGE, "cameras", "discover", "--timeout", str(PROBE_TIMEOUT_S), "--log-level", "INFO"]
    if password is not None:
        secret = tmp_path / "camera-password"
        secret.write_text(password)
        args += ["--user", "admin", "--password-file", str(secret)]
    proc = lan.run_edge(*args)
    assert proc.returncode == 0, proc.stderr
    print(f"discovery: search {json.loads(proc.stdout)['search_s']} s, describe {json.loads(proc.stdout)['describe_s']} s")
    return json.loads(proc.stdout), proc.stdout + proc.stderr


def test_finds_the_camera_with_its_identity_and_profiles(camera_lan: tuple[CameraLan, str], tmp_path: Path) -> None:
    lan, rtsp_url = camera_lan
    xaddr = lan.start_onvif_camera(rtsp_url, user="admin", password=PASSWORD)

    found, output = discover(lan, tmp_path, PASSWORD)

    [camera] = found["cameras"]
    assert camera["address"] == xaddr
    assert camera["error"] is None
    assert (camera["manufacturer"], camera["model"], camera["firmware"]) == ("Guardian Test Optics", "SimCam 1", "1.4.2")
    assert "onvif://www.onvif.org/name/SimCam_1" in camera["scopes"]
    [profile] = camera["profiles"]
    assert (profile["encoding"], profile["width"], profile["height"]) == ("H264", 768, 576)
    assert profile["stream_uri"] == rtsp_url
    assert profile["snapshot_uri"].startswith(xaddr.split("/onvif/")[0])
    assert PASSWORD not in output


def test_wrong_password_is_reported_for_that_camera_only(camera_lan: tuple[CameraLan, str], tmp_path: Path) -> None:
    lan, rtsp_url = camera_lan
    mine = lan.start_onvif_camera(rtsp_url, user="admin", password=PASSWORD)
    other = lan.start_onvif_camera(rtsp_url, user="admin", password="someone-elses-password")

    found, output = discover(lan, tmp_path, PASSWORD)

    cameras = {c["address"]: c for c in found["cameras"]}
    assert set(cameras) == {mine, other}
    assert cameras[mine]["error"] is None and cameras[mine]["profiles"]
    assert cameras[other]["error"]["kind"] == "auth_failed"
    assert cameras[other]["profiles"] == [] and cameras[other]["model"] is None
    assert PASSWORD not in output


def test_without_credentials_a_protected_camera_refuses(camera_lan: tuple[CameraLan, str], tmp_path: Path) -> None:
    lan, rtsp_url = camera_lan
    lan.start_onvif_camera(rtsp_url, user="admin", password=PASSWORD)

    found, _ = discover(lan, tmp_path, None)

    [camera] = found["cameras"]
    assert camera["error"]["kind"] == "auth_failed"
