"""Camera access through the relay over the real path: browser → relay HTTPS (device token) → EdgeCameras
gRPC (mutual TLS) → the edge's pictures directory, its ONVIF search and its stream probe. A real relay and
a real edge uplink in tls mode on loopback (tests/relay/tlsstack.py), and the real RTSP fake camera.

The ONVIF search itself (multicast, so a LAN of its own) is tested against the simulated camera in
tests/edge/onvif/test_cameras_rpc.py; here the relay's side of it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
from nacl.public import PrivateKey, PublicKey, SealedBox
from PIL import Image

from guardian.contracts import auth
from tests.relay.tlsstack import PYTHON, ROOT, TENANT, UI_ORIGIN, TlsStack

PASSWORD = "Relay-probe-s3cret-pw"
TAKEN_AT = 1_790_000_000.0


def _jpeg() -> bytes:
    noise = np.random.default_rng(7).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, format="JPEG", quality=95)
    return out.getvalue()


PICTURE = _jpeg()
MARKER = PICTURE[len(PICTURE) // 2 : len(PICTURE) // 2 + 48]  # bytes only this picture has


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    st = TlsStack(tmp_path_factory.mktemp("camstack"))
    try:
        st.start_relay()
        result = st.enrol()
        assert result.returncode == 0, result.stderr
        # What the detector keeps of camera "front" (agents.edge.detection.picture), dated by its frame.
        picture = st.edge_data / "pictures" / "front.jpg"
        picture.parent.mkdir(parents=True)
        picture.write_bytes(PICTURE)
        os.utime(picture, (TAKEN_AT, TAKEN_AT))
        st.start_edge()
        yield st
    finally:
        st.close()
        for name in st.logs:
            print(f"===== {name} =====\n{st.log_tail(name, 40)}")


@pytest.fixture
def http(stack: TlsStack) -> Iterator[httpx.Client]:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(stack.ca_cert)), timeout=30) as client:
        yield client


def token(stack: TlsStack, scopes: tuple[str, ...] = ("picture",), camera: str | None = "front", *,
          tenant: str = TENANT, device: str | None = None, ttl: int = 120, now: float | None = None) -> str:
    return auth.mint_device_token(stack.token_key, tenant_id=tenant, device_id=device or stack.device_id,
                                  scopes=scopes, camera=camera, relay_url=stack.relay_url, ttl=ttl, now=now)


def picture_url(stack: TlsStack, camera: str = "front", device: str | None = None) -> str:
    return f"{stack.relay_url}/media/v1/devices/{device or stack.device_id}/cameras/{camera}/picture.jpg"


def post(http: httpx.Client, stack: TlsStack, what: str, bearer: str, body: object = None) -> httpx.Response:
    return http.post(f"{stack.relay_url}/media/v1/devices/{stack.device_id}/{what}", json=body,
                     headers={"Authorization": f"Bearer {bearer}", "Origin": UI_ORIGIN})


def sealed_for_the_edge(stack: TlsStack, plain: str) -> str:
    """What the browser does (ui/src/crypto/seal.ts): seal to the edge's config key, unpadded base64url."""
    public = PrivateKey((stack.edge_data / "config-key").read_bytes()).public_key  # the test reads it; the UI gets it
    return base64.urlsafe_b64encode(SealedBox(PublicKey(bytes(public))).encrypt(plain.encode())).decode().rstrip("=")


# --- pictures ----------------------------------------------------------------------------------------


def test_picture_with_a_valid_token(stack: TlsStack, http: httpx.Client) -> None:
    response = http.get(picture_url(stack), params={"token": token(stack)}, headers={"Origin": UI_ORIGIN})
    assert response.status_code == 200, response.text
    assert response.content == PICTURE
    h = response.headers
    assert h["content-type"] == "image/jpeg" and h["cache-control"] == "private, no-store"
    assert datetime.fromisoformat(h["x-picture-taken-at"]) == datetime.fromtimestamp(TAKEN_AT, UTC)
    assert h["access-control-allow-origin"] == UI_ORIGIN and "X-Picture-Taken-At" in h["access-control-expose-headers"]
    head = http.head(picture_url(stack), headers={"Authorization": f"Bearer {token(stack)}"})
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == len(PICTURE)


def test_picture_refusals(stack: TlsStack, http: httpx.Client) -> None:
    clip = auth.mint_clip_token(stack.token_key, tenant_id=TENANT, device_id=stack.device_id, event_id="ev-1",
                                scopes=["snapshot"], relay_url=stack.relay_url)
    cases = [
        (picture_url(stack), "", 401, "token_missing"),
        (picture_url(stack), token(stack, ttl=60, now=time.time() - 600), 401, "token_expired"),
        (picture_url(stack), clip, 401, "token_invalid"),  # a clip token is not a device token
        (picture_url(stack), token(stack, camera="back"), 403, "wrong_camera"),
        (picture_url(stack), token(stack, ("discover", "probe"), None), 403, "wrong_scope"),
        (picture_url(stack), token(stack, tenant="tenant-other"), 403, "wrong_tenant"),
        (picture_url(stack, device="dev-0000000000000000"), token(stack), 403, "wrong_device"),
        (picture_url(stack, device="dev-0000000000000000"), token(stack, device="dev-0000000000000000"), 403,
         "unknown_device"),
        (picture_url(stack, camera="back"), token(stack, camera="back"), 404, "no_picture"),
    ]
    for url, bearer, status, code in cases:
        response = http.get(url, params={"token": bearer} if bearer else {})
        assert (response.status_code, response.json()["error"]) == (status, code), code
        assert MARKER not in response.content


# --- discovery and probes ----------------------------------------------------------------------------


def test_discover_answers_with_the_edge_search(stack: TlsStack, http: httpx.Client) -> None:
    response = post(http, stack, "discover", token(stack, ("discover",), None))
    assert response.status_code == 200, response.text
    found = response.json()
    assert isinstance(found["cameras"], list) and found["took_s"] > 0  # loopback: no ONVIF camera to find here
    assert response.headers["access-control-allow-origin"] == UI_ORIGIN
    assert post(http, stack, "discover", token(stack)).json()["error"] == "wrong_scope"  # a picture token


def test_discover_asks_one_camera_again_with_a_sealed_login(stack: TlsStack, http: httpx.Client,
                                                           fake_camera_factory) -> None:
    """A camera that protects its ONVIF media service answers a search without profiles; the browser then has
    the edge ask that address again with the login it sealed. The simulated ONVIF camera answers on loopback
    (no multicast needed for this: the address is given)."""
    rtsp = fake_camera_factory()
    onvif = subprocess.Popen([PYTHON, "-m", "tests.fakes.onvif_camera", "--rtsp-url", rtsp.url(), "--no-discovery",
                              "--user", "admin"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "ONVIF_CAMERA_PASSWORD": PASSWORD})
    try:
        assert onvif.stdout is not None
        address = json.loads(onvif.stdout.readline())["xaddr"]
        bearer = token(stack, ("discover",), None)
        right = post(http, stack, "discover", bearer, {"address": address, "sealed_credentials": sealed_for_the_edge(
            stack, f"admin:{PASSWORD}")})
        assert right.status_code == 200, right.text
        [camera] = right.json()["cameras"]
        assert camera["error"] is None and camera["address"] == address
        assert [(p["encoding"], p["stream_uri"]) for p in camera["profiles"]] == [("H264", rtsp.url())]
        wrong = post(http, stack, "discover", bearer, {"address": address, "sealed_credentials": sealed_for_the_edge(
            stack, "admin:not-the-password")})
        assert [c["error"]["kind"] for c in wrong.json()["cameras"]] == ["auth_failed"]
        for body, detail in [({"address": address.replace("://", f"://admin:{PASSWORD}@")}, "credentials"),
                             ({"address": "rtsp://127.0.0.1/cam"}, "http"), ([1], "object"),
                             ({"address": address, "sealed_credentials": "*"}, "base64")]:
            refused = post(http, stack, "discover", bearer, body)
            assert (refused.status_code, refused.json()["error"]) == (400, "bad_request"), body
            assert detail in refused.json()["detail"] and PASSWORD not in refused.text
        too_large = post(http, stack, "discover", bearer, {"address": address, "padding": "x" * 20_000})
        assert (too_large.status_code, too_large.json()["error"]) == (413, "too_large")
    finally:
        onvif.terminate()
        onvif.wait(15)
    assert PASSWORD not in stack.log_tail("relay", 400) and PASSWORD not in stack.log_tail("edge", 400)


def test_cors_preflight_for_the_posts(stack: TlsStack, http: httpx.Client) -> None:
    response = http.options(f"{stack.relay_url}/media/v1/devices/{stack.device_id}/probe", headers={
        "Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == UI_ORIGIN
    assert {"authorization", "content-type"} <= set(response.headers["access-control-allow-headers"].lower().split(", "))


@pytest.mark.slow
def test_probe_with_sealed_credentials(stack: TlsStack, http: httpx.Client, fake_camera_factory) -> None:
    camera = fake_camera_factory(user="viewer", password=PASSWORD)
    bearer = token(stack, ("probe",), None)

    good = post(http, stack, "probe", bearer, {"url": camera.url(), "sealed_credentials": sealed_for_the_edge(
        stack, f"viewer:{PASSWORD}")})
    assert good.status_code == 200, good.text
    assert good.json() == {"ok": True, "codec": "h264", "width": 768, "height": 576, "fps": good.json()["fps"]}

    wrong = post(http, stack, "probe", bearer, {"url": camera.url(), "sealed_credentials": sealed_for_the_edge(
        stack, "viewer:not-the-password")})
    assert wrong.json()["ok"] is False and wrong.json()["error"]["kind"] == "auth_failed"

    none = post(http, stack, "probe", bearer, {"url": camera.url(), "sealed_credentials": None})
    assert none.json()["error"]["kind"] == "auth_failed"

    someone_elses_key = base64.urlsafe_b64encode(
        SealedBox(PrivateKey.generate().public_key).encrypt(f"viewer:{PASSWORD}".encode())).decode()
    unreadable = post(http, stack, "probe", bearer, {"url": camera.url(), "sealed_credentials": someone_elses_key})
    assert unreadable.json()["error"]["kind"] == "credentials_unreadable"

    for body, detail in [({"url": camera.url(user="viewer", password=PASSWORD)}, "credentials"),
                         ({"url": "http://127.0.0.1/cam"}, "rtsp"), ({"url": camera.url(), "sealed_credentials": "*"},
                                                                     "base64"), ([1, 2], "object")]:
        refused = post(http, stack, "probe", bearer, body)
        assert (refused.status_code, refused.json()["error"]) == (400, "bad_request"), body
        assert detail in refused.json()["detail"]
        assert PASSWORD not in refused.text
    too_large = post(http, stack, "probe", bearer, {"url": camera.url(), "padding": "x" * 20_000})
    assert (too_large.status_code, too_large.json()["error"]) == (413, "too_large")


@pytest.mark.slow
def test_credentials_and_pictures_never_reach_the_relays_disk_or_logs(stack: TlsStack, http: httpx.Client,
                                                                       fake_camera_factory) -> None:
    camera = fake_camera_factory(user="viewer", password=PASSWORD)
    sealed = sealed_for_the_edge(stack, f"viewer:{PASSWORD}")
    assert post(http, stack, "probe", token(stack, ("probe",), None),
                {"url": camera.url(), "sealed_credentials": sealed}).json()["ok"] is True
    assert http.get(picture_url(stack), params={"token": token(stack)}).content == PICTURE

    raw_sealed = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    secrets_ = [PASSWORD.encode(), sealed.encode(), raw_sealed, MARKER]
    for path in [*stack.relay_state.rglob("*"), stack.logs["relay"]]:
        if path.is_file():
            data = path.read_bytes()
            assert not [s for s in secrets_ if s in data], path
    assert PASSWORD.encode() not in stack.logs["edge"].read_bytes()  # the edge opened it, and said nothing


# --- device offline, revoked (these change the stack: keep them last) ------------------------------------


def test_edge_offline_then_revoked(stack: TlsStack, http: httpx.Client) -> None:
    stack.stop("edge")
    offline = http.get(picture_url(stack), params={"token": token(stack)})
    assert offline.status_code in (503, 504) and offline.json()["error"] in ("device_offline", "device_timeout")
    stack.start_edge()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([PYTHON, "-m", "agents.relay.cli", "device", "revoke", "-c", str(stack.relay_config),
                          stack.device_id], check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    for response in (http.get(picture_url(stack), params={"token": token(stack)}),
                     post(http, stack, "discover", token(stack, ("discover",), None))):
        assert (response.status_code, response.json()["error"]) == (403, "device_revoked")
