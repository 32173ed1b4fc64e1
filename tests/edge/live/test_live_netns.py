"""Live view across the namespace topology of issue #18 (tests/edge/live/netlab.py), through the real
programs with their production configs: the relay (``guardian-relay run``, WireGuard mode) in its
namespace, the edge (``guardian-edge enrol`` + ``uplink run``) in its own with the RTSP camera on its
loopback, coturn from the relay's template in the relay namespace, the real cloud on the relay's loopback,
and Chromium in a viewer namespace that reaches the relay's public address and nothing else.

Chromium itself signals (``fetch`` from the UI's origin to the relay's HTTPS, with a live token the
cloud's key signed): ICE servers, offer → relay → ``EdgeCameras.StartLive`` over the tunnel → answer.
The browser decodes the camera's frames through TURN only; the relay process has no decoder loaded; what
the relay host sees inside the tunnel (its WireGuard interface, decrypted) is encrypted media: the
stream's own H.264 parameter set, which plaintext RTP would carry at every keyframe, never appears there.

Then the tenant admin revokes the device in the cloud: the relay learns it at its next poll, stops the
edge's session over the tunnel before the device's peer goes, and the browser sees the session end.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from agents.edge.live.h264 import find_sps
from guardian.contracts import auth
from tests.edge.live.netlab import CameraInNamespace, Capture, ViewerNamespace
from tests.edge.live.viewer import CHROMIUM_ARGS, Viewer
from tests.relay.cloud_real import TenantAdmin, app_for, cloud_settings, prepare
from tests.relay.coturn import Coturn
from tests.relay.netlab import (
    ENROL_PORT,
    NETWORK,
    RELAY_ID,
    RELAY_PUBLIC,
    RELAY_TUNNEL,
    TENANT,
    Lab,
    wait_for,
)

pytestmark = pytest.mark.slow
UI_ORIGIN = "https://app.guardian.test"
RELAY_URL = f"https://{RELAY_PUBLIC}:{ENROL_PORT}"
EDGE_MEDIA_PORT = 50052  # the relay's default [uplink] edge_media_port, which the lab keeps
DECODERS = ("libavcodec", "libx264", "libopenh264", "libvpx", "libde265")
ENDED = "() => window.endedAt !== undefined"  # the edge closed DTLS (tests/edge/live/viewer.py)

# The browser's signalling, as the UI's LiveView does it: its ICE servers first, then the offer.
FETCH = """async ({url, token, method, body}) => {
  const r = await fetch(url, {method, headers: {'Authorization': 'Bearer ' + token,
                                               ...(body ? {'Content-Type': 'application/json'} : {})},
                              body: body ? JSON.stringify(body) : undefined});
  return {status: r.status, body: r.status === 204 ? null : await r.json()};
}"""


def stream_sps(footage: Path) -> bytes:
    """The footage's SPS, as the camera sends it in-band before each keyframe."""
    with av.open(str(footage)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.is_keyframe:
                sps = find_sps(bytes(av.BitStreamFilterContext("h264_mp4toannexb", stream).filter(packet)[0]))
                assert sps is not None
                return sps
    raise AssertionError("no keyframe in the footage")


def spki_pin(cert: Path) -> str:
    """The certificate's key as Chromium's --ignore-certificate-errors-spki-list takes it: the browser
    trusts this relay's key only (its CA is the lab's own)."""
    public = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def loaded_decoders(pid: int) -> set[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name for name in DECODERS if name in maps}


def log_lines(lab: Lab, name: str, event: str) -> list[str]:
    return [line for line in lab.logs[name].read_text(errors="replace").splitlines() if f'"{event}"' in line]


def test_live_view_through_the_relay_program_and_revocation_ends_it(footage_mp4: Path, tmp_path: Path) -> None:
    sps = stream_sps(footage_mp4)
    with av.open(str(footage_mp4)) as container:
        width, height = container.streams.video[0].codec_context.width, container.streams.video[0].codec_context.height
    turn = Coturn(tmp_path, listen_ips=(RELAY_PUBLIC, RELAY_TUNNEL), relay_ip=RELAY_TUNNEL, peers=NETWORK)
    secret = tmp_path / "turn-secret"
    secret.write_bytes(turn.secret + b"\n")
    secret.chmod(0o600)
    lab = Lab(tmp_path / "lab", relay_overrides={
        "cloud": {"revocation_poll_s": 1.0},
        "media": {"cors_origins": [UI_ORIGIN], "public_url": RELAY_URL},
        "live": {"enabled": True, "turn_urls": [turn.url_at(RELAY_PUBLIC)],
                 "edge_turn_urls": [turn.url_at(RELAY_TUNNEL)], "secret_file": secret},
    }, edge_overrides={"cameras": [{"name": "front", "record_url": "rtsp://127.0.0.1:8554/cam"}]})
    turn.netns = lab.ns_relay
    try:
        with lab, ViewerNamespace(tmp_path, lab.ns_relay, RELAY_PUBLIC, lab.id) as viewer_ns, \
                CameraInNamespace(lab.ns_edge, footage_mp4):
            (lab.dir / "cloud").mkdir()
            values = cloud_settings(lab.dir / "cloud" / "cloud.db", lab.token_key)
            prepare(values, tenant_id=TENANT, relay_id=RELAY_ID,
                    relay_public_key=auth.public_key_to_text(lab.relay_signing_key), relay_url=RELAY_URL)
            admin = TenantAdmin(TestClient(app_for(values), base_url="https://testserver"))  # same database
            lab.start_real_cloud(values)
            lab.start_relay()
            enrolled = lab.enrol(admin.issue_token("porch")["token"])
            assert enrolled.returncode == 0, enrolled.stderr
            # The recorder fills the cameras table from edge.toml; no recorder runs here, so do what it does.
            from agents.edge.config import EdgeSettings
            from agents.edge.video.cameras import sync_cameras
            from guardian.runtime.config import load_settings

            engine, sessions = lab.edge_sessions()
            sync_cameras(sessions, load_settings(EdgeSettings, lab.edge_config).cameras)
            engine.dispose()
            lab.start_edge()
            ((device_id, address),) = lab.relay_query("SELECT device_id, tunnel_address FROM devices")
            wait_for(lambda: lab.port_open(lab.ns_relay, address, EDGE_MEDIA_PORT), 30, "the edge's EdgeCameras server")
            wait_for(lambda: device_id in admin.devices(), 60, "the cloud to list the device")
            with turn:  # on the tunnel address, which exists once the relay's WireGuard interface is up
                result = asyncio.run(scenario(lab, viewer_ns.chromium, admin, device_id, width, height))
            relay_pid, edge_pid = lab.procs["relay"].pid, lab.procs["edge"].pid
            relay_decoders, edge_decoders = loaded_decoders(relay_pid), loaded_decoders(edge_pid)
            seen, clear, revoked_at, last_frame_ms, ended_ms = result
            revoked = log_lines(lab, "relay", "live_sessions_revoked")
            edge_ended = log_lines(lab, "edge", "live_session_ended")
    except BaseException:
        for name in lab.logs:
            print(f"===== {name} =====\n{lab.log_tail(name, 60)}")
        raise
    assert len(revoked) == 1, revoked
    (learned,) = log_lines(lab, "relay", "device_revoked")  # in the relay's registry: its loops act on it
    learned_at = datetime.fromisoformat(json.loads(learned)["timestamp"]).timestamp()
    print(f"revoke in the cloud → last frame decoded: {last_frame_ms - revoked_at * 1000:.0f} ms, → the browser sees "
          f"the end: {ended_ms - revoked_at * 1000:.0f} ms (revocation poll 1.0 s); the relay learns it → the browser "
          f"sees the end: {ended_ms - learned_at * 1000:.0f} ms")
    # The relay forwarded signalling and never loaded a decoder; the edge demuxes with PyAV (the control).
    assert relay_decoders == set(), relay_decoders
    assert "libavcodec" in edge_decoders
    # Inside the tunnel: media crossed it, encrypted; the camera's own link carried it in the clear.
    assert sps[:12] in clear
    assert len(seen) > 100_000, "the media did not cross the tunnel"
    assert sps[:12] not in seen, "the camera's H.264 crossed the tunnel in the clear"
    # The revocation ended the session at the edge through the relay (not by the tunnel going away).
    assert '"ended": 1' in revoked[0], revoked
    assert len(edge_ended) == 1 and '"reason": "device revoked"' in edge_ended[0], edge_ended


async def scenario(lab: Lab, chromium: Path, admin: TenantAdmin, device_id: str, width: int,
                   height: int) -> tuple[bytes, bytes, float, float, float]:
    """What crossed the tunnel, what crossed the camera's link, when the device was revoked (unix s), when
    the browser decoded its last frame (unix ms, to the viewer's 100 ms sampling) and saw the session end."""
    from playwright.async_api import async_playwright

    live_url = f"{RELAY_URL}/media/v1/devices/{device_id}/cameras/front/live"

    def token(ttl: int = 120) -> str:
        return auth.mint_device_token(lab.token_key, tenant_id=TENANT, device_id=device_id, scopes=["live"],
                                      camera="front", relay_url=RELAY_URL, ttl=ttl)

    capture = Capture(lab.ns_relay, lab.wg_relay)  # the tunnel as the relay host sees it: WireGuard removed
    control = Capture(lab.ns_edge, "lo")  # the camera's RTSP, plaintext: the same search finds it there
    try:
        async with async_playwright() as pw:
            # The lab's "public" address is a private one: Chromium would ask the user before a public
            # origin reaches it (Local Network Access). A real relay's public address needs no such flag.
            args = [*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={spki_pin(lab.relay_cert)}",
                    "--disable-features=LocalNetworkAccessChecks"]
            browser = await pw.chromium.launch(executable_path=str(chromium), args=args)
            try:
                page = await browser.new_page()
                page.on("console", lambda message: print("chromium:", message.text))  # shown on failure
                # The UI's origin, served by the test (the relay allows it in CORS); the relay is reached for real.
                await page.route(f"{UI_ORIGIN}/", lambda route: route.fulfill(
                    content_type="text/html", body="<!doctype html><title>live</title>"
                    "<video id=v autoplay muted playsinline></video>"))
                await page.goto(f"{UI_ORIGIN}/")
                viewer = Viewer(page)
                live = token()
                ice = await page.evaluate(FETCH, {"url": live_url, "token": live, "method": "GET", "body": None})
                assert ice["status"] == 200, ice
                server: dict[str, Any] = ice["body"]["ice_servers"][0]
                offer = await viewer.offer(server["urls"], server["username"], server["credential"])
                answered = await page.evaluate(FETCH, {"url": live_url, "token": live, "method": "POST",
                                                       "body": {"sdp": offer}})
                assert answered["status"] == 200, answered
                await viewer.accept(answered["body"]["sdp"])
                first = await viewer.frames_beyond(0)
                # Past at least one more keyframe (the footage has one every 20 frames).
                stats = await viewer.frames_beyond(first["framesDecoded"] + 25, timeout_ms=30000)
                assert (stats["width"], stats["height"]) == (width, height)
                assert (stats["localCandidate"], stats["remoteCandidate"]) == ("relay", "relay")

                revoked_at = time.time()
                await asyncio.to_thread(admin.revoke_device, device_id)
                # The browser sees the session end (the relay polls every second; bounded well above it).
                await page.wait_for_function(ENDED, timeout=20000)
                last_frame_ms: float = await page.evaluate("() => window.lastFrameAt")
                ended_ms: float = await page.evaluate("() => window.endedAt")
                renewal = await page.evaluate(FETCH, {"url": f"{live_url}/{answered['body']['session']}",
                                                      "token": token(), "method": "POST", "body": None})
                assert (renewal["status"], renewal["body"]["error"]) == (403, "device_revoked")
                await viewer.close()
            finally:
                await browser.close()
    finally:
        seen, clear = capture.stop(), control.stop()
    return seen, clear, revoked_at, last_frame_ms, ended_ms
