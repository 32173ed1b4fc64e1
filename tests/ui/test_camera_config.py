"""Cameras from the web UI (issue #17) in real headless Chromium against the real cloud (uvicorn, SQLite).

A tenant admin adds a camera to a device whose config key the cloud got through the relay's signed
ingest (a real PyNaCl X25519 key pair plays the edge). The address is typed with ``user:password@``: the
page splits it, seals the login to the device's key and sends only the ciphertext. The test reads what
left the browser, what the relays are handed and the cloud's database file: the password is in none of
them, and the edge's private key opens the ciphertext. The device's report then shows on the page.
Screenshots at desktop and phone width go to test-artifacts/ui/.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from nacl.public import PrivateKey, SealedBox

from cloud.api.main import create_app
from cloud.core.db import migrate
from guardian.contracts import auth
from guardian.contracts.cloud.v1 import ingest_pb2
from tests.cloud import batches
from tests.cloud.conftest import RelayHandle, add_relay, make_settings
from tests.cloud.servers import serve
from tests.ui.test_browser_smoke import Page, nav

pytestmark = pytest.mark.slow

DEVICE = "edge-lake"
CAMERA_PASSWORD = "Gr3en-Parrot-Lantern"  # must never reach the cloud in the clear


@pytest.fixture
def cloud(tmp_path: Path, ui_dist: Path) -> Iterator[tuple[str, RelayHandle, Path]]:
    database = tmp_path / "cloud.db"
    url = f"sqlite:///{database}"
    migrate(url)
    settings = make_settings(url, auth.generate_private_key(), auth={"cookie_secure": False},
                             http={"ui_dir": str(ui_dist), "cors_origins": []})
    app = create_app(settings)
    relay = add_relay(app, "relay-a")
    with serve(app) as base:
        yield base, relay, database


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def report(base: str, relay: RelayHandle, status: ingest_pb2.ConfigStatus, *, health: bool = False) -> None:
    """What the relay forwards: the device's health and its config report, in a signed ingest batch."""
    status.at.FromDatetime(datetime.now(UTC))
    batch = ingest_pb2.IngestBatch(relay_id=relay.id, config_status=[status],
                                   health=[batches.health(DEVICE, {})] if health else [])
    body = json_format.MessageToJson(batch).encode()
    path = "/api/v1/ingest"
    response = httpx.post(base + path, content=body,
                          headers={**relay.headers("POST", path, body), "Content-Type": "application/json"})
    assert response.status_code == 200, response.text


def test_add_camera_with_sealed_login(cloud, browser, artifacts: Path) -> None:
    base, relay, database = cloud
    tab = Page(browser, base, artifacts, "camera-config")
    p = tab.page
    tab.signup(f"dana-{uuid.uuid4().hex[:6]}@example.org", "Lake house")
    tab.add_first_device("relay-a.relays.example.org:443")

    # The edge's config key, reported through its relay (first health, so the cloud knows the device).
    edge_key = PrivateKey.generate()
    public = bytes(edge_key.public_key)
    key_id = hashlib.sha256(public).hexdigest()[:16]
    report(base, relay, ingest_pb2.ConfigStatus(device_id=DEVICE, config_key_id=key_id, config_public_key=b64url(public)),
           health=True)

    sent: list[str] = []
    p.on("request", lambda r: sent.append(r.post_data or "") if r.method == "PUT" else None)
    nav(p, "Cameras")
    p.get_by_role("heading", name=DEVICE, level=2).wait_for()
    p.get_by_role("button", name=f"Add a camera to {DEVICE}").click()
    p.get_by_label("Camera name").fill("Boat house")
    p.get_by_label("Stream address").fill(f"rtsp://admin:{CAMERA_PASSWORD}@192.168.1.20:554/stream1")
    p.get_by_label("Stream address").blur()
    assert p.get_by_label("Stream address").input_value() == "rtsp://192.168.1.20:554/stream1"
    assert p.get_by_label("User name").input_value() == "admin"
    p.get_by_label("Person").check()
    p.get_by_label("Minimum score for person (%)").fill("60")
    tab.shot("form")
    p.get_by_role("button", name="Add camera", exact=True).click()
    p.get_by_text("Saved as version 1").wait_for()
    camera_row = p.locator("[data-camera=boat-house]")
    assert camera_row.get_by_test_id("apply-state").inner_text() == "Pending"
    tab.shot("saved")

    # What left the browser: the address without the login, the login sealed, no password.
    assert len(sent) == 1 and CAMERA_PASSWORD not in sent[0]
    body = json.loads(sent[0])
    assert body["base_version"] == 0
    assert body["cameras"][0]["record"]["url"] == "rtsp://192.168.1.20:554/stream1"
    assert body["cameras"][0]["detection"]["thresholds"] == [{"label": "person", "min_score": 0.6}]

    # What the cloud stored and hands the relays: the ciphertext, which only the edge's key opens.
    path = "/api/v1/relay/configs"
    feed = httpx.get(base + path, headers=relay.headers("GET", path))
    assert feed.status_code == 200, feed.text
    [desired] = feed.json()["configs"]
    assert CAMERA_PASSWORD not in json.dumps(desired)
    record = desired["cameras"][0]["record"]
    assert record["url"] == "rtsp://192.168.1.20:554/stream1" and record["credentials"]["keyId"] == key_id
    sealed = base64.b64decode(record["credentials"]["ciphertext"])  # proto3 JSON bytes: standard base64
    assert SealedBox(edge_key).decrypt(sealed) == f"admin:{CAMERA_PASSWORD}".encode()
    assert CAMERA_PASSWORD.encode() not in database.read_bytes()
    for wal in database.parent.glob(database.name + "-*"):
        assert CAMERA_PASSWORD.encode() not in wal.read_bytes()

    # The edge applied version 1 but could not open the stream: the page shows its exact words.
    failed = ingest_pb2.ConfigStatus(device_id=DEVICE, applied_version=1, config_key_id=key_id,
                                     config_public_key=b64url(public))
    failed.cameras.add(camera="boat-house", state="failed", error="RTSP 401 Unauthorized from 192.168.1.20")
    report(base, relay, failed)
    p.get_by_role("button", name="Refresh").click()
    p.get_by_text("RTSP 401 Unauthorized from 192.168.1.20").wait_for()
    assert p.locator("[data-camera=boat-house]").get_by_test_id("apply-state").inner_text() == "Failed"
    tab.shot("failed")

    # Phone width: the list and the edit form fit (no sideways scrolling).
    p.set_viewport_size({"width": 390, "height": 844})
    p.get_by_role("button", name="Edit Boat house").click()
    p.get_by_text("A user name and password are stored, sealed for this device").wait_for()
    assert p.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.shot("phone-edit")
    tab.close()
