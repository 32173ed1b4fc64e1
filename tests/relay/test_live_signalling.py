"""Live view signalling over the real path: browser (headless Chromium) → relay HTTPS (live device token,
TURN credentials) → EdgeCameras.StartLive over the edge's mutual-TLS channel → the edge's LiveHub, which
reads the real RTSP fake camera; the media then flows edge ⇄ coturn ⇄ browser. A real relay and a real
edge uplink in tls mode on loopback (tests/relay/tlsstack.py), a real coturn from the relay's template.

The refusals (another tenant's token, an expired one, a revoked device, …) are checked at the API, and a
device revoked on the relay itself (`guardian-relay device revoke`, which tls mode notices in its reconcile
loop as wireguard mode does) loses its running session and its uplink stream.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from guardian.contracts import auth
from tests.conftest import FakeCamera
from tests.edge.live.test_chromium_offer import chromium_offer
from tests.edge.live.viewer import CHROMIUM, CHROMIUM_ARGS, Viewer
from tests.relay.coturn import Coturn
from tests.relay.tlsstack import PYTHON, ROOT, TENANT, UI_ORIGIN, TlsStack, wait_for


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, footage_mp4: Path) -> Iterator[TlsStack]:
    work = tmp_path_factory.mktemp("livestack")
    camera = FakeCamera(footage_mp4)
    camera.start()
    turn = Coturn(work)
    turn.__enter__()
    secret = work / "turn-secret"
    secret.write_bytes(turn.secret + b"\n")
    st = TlsStack(work / "stack",
                  relay_overrides={"live": {"enabled": True, "turn_urls": [turn.url], "secret_file": secret},
                                   "tunnel": {"reconcile_interval_s": 1.0}},  # a local revocation noticed within 1 s
                  edge_overrides={"cameras": [{"name": "front", "record_url": camera.url()}]})
    try:
        st.start_relay()
        result = st.enrol()
        assert result.returncode == 0, result.stderr
        # The recorder fills the cameras table from edge.toml; no recorder runs here, so do what it does.
        from agents.edge.config import EdgeSettings
        from agents.edge.db import open_database
        from agents.edge.video.cameras import sync_cameras
        from guardian.runtime.config import load_settings

        engine, sessions = open_database(st.edge_db)
        sync_cameras(sessions, load_settings(EdgeSettings, st.edge_config).cameras)
        engine.dispose()
        st.start_edge()
        yield st
    finally:
        st.close()
        turn.__exit__(None, None, None)
        camera.stop()
        for name in st.logs:
            print(f"===== {name} =====\n{st.log_tail(name, 40)}")


@pytest.fixture
def http(stack: TlsStack) -> Iterator[httpx.Client]:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(stack.ca_cert)), timeout=30) as client:
        yield client


def token(stack: TlsStack, camera: str = "front", *, scopes: tuple[str, ...] = ("live",), tenant: str = TENANT,
          ttl: int = 120, now: float | None = None, stream: str | None = None) -> str:
    return auth.mint_device_token(stack.token_key, tenant_id=tenant, device_id=stack.device_id, scopes=scopes,
                                  camera=camera, relay_url=stack.relay_url, ttl=ttl, now=now, stream=stream)


def live_url(stack: TlsStack, camera: str = "front") -> str:
    return f"{stack.relay_url}/media/v1/devices/{stack.device_id}/cameras/{camera}/live"


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}", "Origin": UI_ORIGIN}


@pytest.mark.slow
def test_browser_watches_a_camera_through_the_relay(stack: TlsStack, http: httpx.Client) -> None:
    from playwright.async_api import async_playwright

    live = token(stack)
    ice = http.get(live_url(stack), headers=bearer(live))
    assert ice.status_code == 200, ice.text
    server: dict[str, Any] = ice.json()["ice_servers"][0]
    assert server["urls"][0].startswith("turn:") and server["username"].split(":")[0].isdigit()
    assert ice.headers["access-control-allow-origin"] == UI_ORIGIN

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                viewer = await Viewer.open(browser)
                offer = await viewer.offer(server["urls"][0], server["username"], server["credential"])
                answer = await asyncio.to_thread(http.post, live_url(stack), json={"sdp": offer}, headers=bearer(live))
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert body["sdp"].startswith("v=0") and body["session"] and body["expires_at"].endswith("Z")
                await viewer.accept(body["sdp"])
                first = await viewer.frames_beyond(0)
                later = await viewer.frames_beyond(first["framesDecoded"] + 10)
                # Ending it: the edge closes the peer connection, the browser sees it go.
                stop = await asyncio.to_thread(http.delete, f"{live_url(stack)}/{body['session']}", headers=bearer(live))
                assert stop.status_code == 204, stop.text
                await viewer.page.wait_for_function(
                    "() => ['closed', 'failed', 'disconnected'].includes(window.pc.connectionState)", timeout=20000)
                await viewer.close()
                return first, later
            finally:
                await browser.close()

    first, later = asyncio.run(scenario())
    assert later["framesDecoded"] > first["framesDecoded"]
    assert (later["width"], later["height"]) == (768, 576)  # the fake camera's picture
    assert (later["localCandidate"], later["remoteCandidate"]) == ("relay", "relay")
    # The relay's own process logged the session and nothing of the TURN credential it minted.
    relay_log = stack.logs["relay"].read_text()
    assert "live_session_signalled" in relay_log and server["credential"] not in relay_log


def test_live_refusals(stack: TlsStack, http: httpx.Client) -> None:
    picture = auth.mint_device_token(stack.token_key, tenant_id=TENANT, device_id=stack.device_id,
                                     scopes=["picture"], camera="front", relay_url=stack.relay_url, ttl=60)
    cases = [
        ("", 401, "token_missing"),
        (token(stack, ttl=60, now=time.time() - 600), 401, "token_expired"),
        (token(stack, tenant="tenant-other"), 403, "wrong_tenant"),
        (token(stack, camera="back"), 403, "wrong_camera"),
        (picture, 403, "wrong_scope"),
    ]
    for value, status, code in cases:
        for response in (http.get(live_url(stack), headers=bearer(value) if value else {}),
                         http.post(live_url(stack), json={"sdp": "v=0\r\n"}, headers=bearer(value) if value else {})):
            assert (response.status_code, response.json()["error"]) == (status, code), code
            assert "ice_servers" not in response.text
    for body, detail in ([1], "sdp"), ({"sdp": "hello"}, "sdp"):
        refused = http.post(live_url(stack), json=body, headers=bearer(token(stack)))
        assert (refused.status_code, refused.json()["error"]) == (400, "bad_request") and detail in refused.json()["detail"]
    unknown = http.post(live_url(stack, "back"), json={"sdp": "v=0\r\n"}, headers=bearer(token(stack, "back")))
    assert (unknown.status_code, unknown.json()["error"]) == (404, "camera_not_found")
    gone = http.delete(f"{live_url(stack)}/0123abcd", headers=bearer(token(stack)))
    assert gone.status_code == 204  # ending a session that is not there: nothing to do


@pytest.mark.slow
def test_a_renewed_token_keeps_the_stream_past_the_first_expiry(stack: TlsStack, http: httpx.Client) -> None:
    """A viewer renews its short live token while it watches: the stream goes on past the first token's
    expiry, and still ends when the renewed one expires (nothing renewed it again)."""
    from playwright.async_api import async_playwright

    server: dict[str, Any] = http.get(live_url(stack), headers=bearer(token(stack))).json()["ice_servers"][0]

    async def scenario() -> None:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                viewer = await Viewer.open(browser)
                offer = await viewer.offer(server["urls"][0], server["username"], server["credential"])
                first = token(stack, ttl=6)  # short, but long enough for the edge to open the camera
                answer = await asyncio.to_thread(http.post, live_url(stack), json={"sdp": offer}, headers=bearer(first))
                assert answer.status_code == 200, answer.text
                session, first_expiry = answer.json()["session"], answer.json()["expires_at"]
                await viewer.accept(answer.json()["sdp"])
                await viewer.frames_beyond(0)
                renewed_token = token(stack, ttl=12)
                renewed = await asyncio.to_thread(http.post, f"{live_url(stack)}/{session}", headers=bearer(renewed_token))
                assert renewed.status_code == 200, renewed.text
                second_expiry = renewed.json()["expires_at"]
                assert second_expiry > first_expiry
                # Past the first token's expiry (and the edge's end-of-session call, were it not moved):
                # still connected, still decoding.
                past = "(t) => Date.now() > Date.parse(t) + 1000"
                await viewer.page.wait_for_function(past, arg=first_expiry, timeout=20000)
                going = await viewer.stats()
                await viewer.frames_beyond(going["framesDecoded"] + 10)
                assert await viewer.page.evaluate("() => window.pc.connectionState") == "connected"
                # Not renewed again: the edge ends it at the renewed token's expiry, not before.
                ended = "() => ['closed', 'failed', 'disconnected'].includes(window.pc.connectionState)"
                await viewer.page.wait_for_function(ended, timeout=30000)
                assert await viewer.page.evaluate("(t) => Date.now() >= Date.parse(t) - 1000", second_expiry)
                gone = await asyncio.to_thread(http.post, f"{live_url(stack)}/{session}", headers=bearer(token(stack)))
                assert (gone.status_code, gone.json()["error"]) == (404, "session_not_found")
                await viewer.close()
            finally:
                await browser.close()

    asyncio.run(scenario())


def log_events(stack: TlsStack, name: str, event: str, after: int = 0) -> list[dict[str, Any]]:
    """The JSON lines of ``name``'s log (from line ``after`` on) whose event is ``event``."""
    found = []
    for line in stack.logs[name].read_text(errors="replace").splitlines()[after:]:
        try:
            entry = json.loads(line)
        except ValueError:  # a line being written, or not from the logger
            continue
        if isinstance(entry, dict) and entry.get("event") == event:
            found.append(entry)
    return found


def test_revoked_device_is_refused(stack: TlsStack, http: httpx.Client) -> None:
    """Last: it revokes the stack's device, on the relay (the operator's command), while a session runs (a
    real Chromium offer the edge answers; no browser connects: the session need not carry video to be ended)."""
    running = http.post(live_url(stack), json={"sdp": chromium_offer()}, headers=bearer(token(stack)))
    assert running.status_code == 200, running.text
    session = running.json()["session"]
    relay_seen = len(stack.logs["relay"].read_text(errors="replace").splitlines())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([PYTHON, "-m", "agents.relay.cli", "device", "revoke", "-c", str(stack.relay_config),
                          stack.device_id], check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    for response in (http.get(live_url(stack), headers=bearer(token(stack))),
                     http.post(live_url(stack), json={"sdp": "v=0\r\n"}, headers=bearer(token(stack))),
                     http.post(f"{live_url(stack)}/0123abcd", headers=bearer(token(stack)))):  # no renewal either
        assert (response.status_code, response.json()["error"]) == (403, "device_revoked")
    # The running relay noticed (tls mode has no WireGuard to reconcile, the rest of the loop runs): the edge
    # was told to end the session as revoked, and the device's uplink stream was closed.
    ended = wait_for(lambda: [e for e in log_events(stack, "edge", "live_session_ended") if e["session"] == session],
                     30, "the edge to end the session")
    assert [e["reason"] for e in ended] == ["device revoked"]
    (revoked,) = log_events(stack, "relay", "live_sessions_revoked", relay_seen)
    assert (revoked["devices"], revoked["ended"]) == ([stack.device_id], 1)
    wait_for(lambda: [e for e in log_events(stack, "relay", "uplink_stream_closed", relay_seen)
                      if e["device"] == stack.device_id], 30, "the device's uplink stream to be closed")
