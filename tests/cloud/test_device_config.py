"""A device's desired configuration in the cloud (issue #17): versions saved by tenant admins, strict
validation, sealed credentials only, the relays' pull with a cursor, and what devices report back.

Both databases (``db_url``), the real app; the edge's side is played with a real PyNaCl key pair and
ConfigStatus reports in real ingest batches.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import json_format
from nacl.public import PrivateKey, PublicKey, SealedBox
from sqlalchemy import select

from cloud.tables import DeviceConfigVersion, metadata
from guardian.contracts.cloud.v1 import ingest_pb2
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.logging import configure_logging
from tests.cloud import batches
from tests.cloud.conftest import add_relay, signup

DEVICE = "edge-home"
PASSWORD = "Gr3en-Parrot-Lantern"  # the camera password: must never reach the cloud in the clear


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Edge:
    """The edge's side: its X25519 config key, as PyNaCl on the edge holds it."""

    def __init__(self) -> None:
        self.key = PrivateKey.generate()
        public = bytes(self.key.public_key)
        self.key_id = hashlib.sha256(public).hexdigest()[:16]
        self.public = b64url(public)

    def open(self, ciphertext: bytes) -> bytes:
        return SealedBox(self.key).decrypt(ciphertext)


def seal(public_key_b64url: str, key_id: str, plaintext: str) -> dict[str, str]:
    """What the browser does: seal to the key the cloud handed out (GET …/config → config_key)."""
    public = base64.urlsafe_b64decode(public_key_b64url + "=" * (-len(public_key_b64url) % 4))
    return {"ciphertext": b64url(SealedBox(PublicKey(public)).encrypt(plaintext.encode())), "key_id": key_id}


def camera(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "display_name": name.title(), "record": {"url": f"rtsp://10.0.0.7:554/{name}/main"}, **extra}


def status(device: str, applied: int, *, edge: Edge | None = None, refused: int = 0, reason: str = "",
           cameras: dict[str, tuple[str, str]] | None = None, at: datetime | None = None) -> ingest_pb2.ConfigStatus:
    report = ingest_pb2.ConfigStatus(device_id=device, applied_version=applied, refused_version=refused,
                                     refused_reason=reason)
    report.at.FromDatetime(at or datetime.now(UTC))
    for name, (state, error) in (cameras or {}).items():
        report.cameras.add(camera=name, state=state, error=error)
    if edge is not None:
        report.config_key_id, report.config_public_key = edge.key_id, edge.public
    return report


def post_batch(client, relay, *, healths=(), config_status=()) -> Any:
    message = ingest_pb2.IngestBatch(relay_id=relay.id, health=list(healths), config_status=list(config_status))
    response = relay.post(client, "/api/v1/ingest", json_format.MessageToJson(message).encode())
    assert response.status_code == 200, response.text
    return response


def enrol(client, relay, *devices: str) -> None:
    """Devices become known to the cloud from their relay's health reports."""
    post_batch(client, relay, healths=[batches.health(d, {}) for d in devices])


@pytest.fixture
def home(client, app):
    relay = add_relay(app, "relay-home")
    admin = signup(client, "admin@home.example.org")
    enrol(client, relay, DEVICE, "edge-garage")
    return relay, admin


def config_url(device: str = DEVICE) -> str:
    return f"/api/v1/devices/{device}/config"


def put(client, member, cameras: list[dict[str, Any]], base: int, device: str = DEVICE) -> Any:
    return client.put(config_url(device), headers=member.auth, json={"base_version": base, "cameras": cameras})


def test_versions_conflicts_and_identical_saves(client, home) -> None:
    _, admin = home
    first = client.get(config_url(), headers=admin.auth).json()
    assert (first["version"], first["cameras"], first["config_key"]) == (0, [], None)
    assert first["reported"]["applied_version"] == 0 and first["reported"]["reported_at"] is None

    r = put(client, admin, [camera("porch")], base=0)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["cameras"][0]["name"] == "porch"
    # A second admin still editing version 0 is told, not silently overwritten.
    r = put(client, admin, [camera("porch"), camera("yard")], base=0)
    assert r.status_code == 409 and r.json()["error"]["code"] == "version_conflict", r.text

    zones = {"zones": [{"name": "walkway", "points": [{"x": 0.1, "y": 0.2}, {"x": 0.9, "y": 0.2}, {"x": 0.5, "y": 1}]}],
             "labels": ["person", "dog"], "thresholds": [{"label": "person", "min_score": 0.6}], "min_area": 0.001,
             "tiles": {"columns": 2, "rows": 1, "overlap": 0.25}}
    second = [camera("porch", detection=zones, retention_days=3.5), camera("yard", enabled=False)]
    r = put(client, admin, second, base=1)
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    saved = r.json()["cameras"]

    # What GET gives back, saved again unchanged (also from a stale base: a retried save), writes nothing.
    got = client.get(config_url(), headers=admin.auth).json()
    assert got["cameras"] == saved and got["version"] == 2
    assert got["cameras"][0]["detection"]["zones"][0]["name"] == "walkway"
    assert got["cameras"][1]["enabled"] is False
    assert got["cameras"][0]["detection"]["tiles"] == {"columns": 2, "rows": 1, "overlap": 0.25}
    assert got["cameras"][1]["detection"]["tiles"] is None
    for base in (2, 1):
        r = put(client, admin, got["cameras"], base=base)
        assert r.status_code == 200 and r.json()["version"] == 2, r.text
    # The device list shows the desired and applied versions.
    devices = {d["id"]: d for d in client.get("/api/v1/devices", headers=admin.auth).json()}
    assert (devices[DEVICE]["desired_config_version"], devices[DEVICE]["applied_config_version"]) == (2, 0)
    assert devices["edge-garage"]["desired_config_version"] == 0
    assert client.get(f"/api/v1/devices/{DEVICE}", headers=admin.auth).json()["desired_config_version"] == 2


def test_only_the_last_versions_are_kept(client, app, home) -> None:
    _, admin = home
    for version in range(1, 23):
        r = put(client, admin, [camera("porch", retention_days=float(version))], base=version - 1)
        assert r.status_code == 201, r.text
    with app.state.cloud.sessions() as session:
        kept = list(session.scalars(select(DeviceConfigVersion.version).where(DeviceConfigVersion.device_id == DEVICE)
                                    .order_by(DeviceConfigVersion.version)))
    assert kept == list(range(3, 23))


def _problem(r: Any) -> str:
    return json.dumps(r.json()["error"])


@pytest.mark.parametrize(("cameras", "code", "mentions"), [
    ([camera("porch", record={"url": f"rtsp://admin:{PASSWORD}@10.0.0.7/main"})], "credentials_in_url", "porch"),
    ([camera("porch", detect={"url": "rtsps://viewer@10.0.0.7/sub"})], "credentials_in_url", "porch"),
    ([camera("porch"), camera("porch")], "invalid_request", "camera names must be unique"),
    ([camera("Porch")], "invalid_request", "cameras.0.name"),
    ([camera("porch", record={"url": "http://10.0.0.7/main"})], "invalid_request", "cameras.0.record.url"),
    ([camera("porch", detection={"zones": [{"name": "z", "points": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]}]})],
     "invalid_request", "points"),
    ([camera("porch", detection={"masks": [{"name": "m", "points": [{"x": 0, "y": 0}, {"x": 1.5, "y": 1},
                                                                       {"x": 0, "y": 1}]}]})], "invalid_request", "x"),
    ([camera("porch", detection={"zones": [{"name": "a", "points": [{"x": 0, "y": 0}, {"x": 1, "y": 1}, {"x": 0, "y": 1}]}] * 2})],
     "invalid_request", "zone names must be unique"),
    ([camera("porch", detection={"zones": [{"name": "a", "points": [{"x": 0, "y": 0}, {"x": 1, "y": 1}, {"x": 0, "y": 1}]}],
                                 "alert_zones": ["b"]})], "invalid_request", "alert zones must name zones of the camera: b"),
    ([camera("porch", detection={"labels": ["person", "unicorn"]})], "invalid_request", "labels"),
    ([camera("porch", detection={"thresholds": [{"label": "car", "min_score": 1.2}]})], "invalid_request", "min_score"),
    ([camera("porch", detection={"tiles": {"columns": 5, "rows": 1}})], "invalid_request", "tiles.columns"),
    ([camera("porch", detection={"tiles": {"columns": 2, "rows": 2, "overlap": 0.5}})], "invalid_request", "tiles.overlap"),
    ([camera("porch", detection={"input_size": 600})], "invalid_request", "input_size"),
    ([camera("porch", detection={"input_size": 1280})], "invalid_request", "input_size"),
    ([camera(f"cam{i}", enabled=False) for i in range(17)], "invalid_request", "cameras"),
    ([camera("porch", record={"url": "rtsp://10.0.0.7/main", "password": PASSWORD})], "invalid_request", "password"),
])
def test_invalid_configurations_are_refused(client, app, home, cameras, code, mentions) -> None:
    _, admin = home
    r = put(client, admin, cameras, base=0)
    assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    assert mentions in _problem(r) and PASSWORD not in r.text
    assert client.get(config_url(), headers=admin.auth).json()["version"] == 0


def test_the_plans_camera_limit_counts_enabled_cameras_of_every_device(client, home) -> None:
    _, admin = home  # the Free plan: 4 cameras
    assert put(client, admin, [camera("a"), camera("b"), camera("c")], base=0).status_code == 201
    r = put(client, admin, [camera("d"), camera("e")], base=0, device="edge-garage")
    assert r.status_code == 409 and r.json()["error"]["code"] == "camera_limit", r.text
    assert put(client, admin, [camera("d"), camera("e", enabled=False)], base=0, device="edge-garage").status_code == 201


def test_sealed_credentials_must_name_the_devices_current_key(client, home) -> None:
    relay, admin = home
    edge = Edge()
    fake = {"ciphertext": b64url(bytes(80)), "key_id": edge.key_id}
    r = put(client, admin, [camera("porch", record={"url": "rtsp://10.0.0.7/main", "credentials": fake})], base=0)
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_config_key", r.text

    post_batch(client, relay, config_status=[status(DEVICE, 0, edge=edge)])
    key = client.get(config_url(), headers=admin.auth).json()["config_key"]
    assert key == {"key_id": edge.key_id, "public_key": edge.public}
    stale = {"ciphertext": fake["ciphertext"], "key_id": "0123456789abcdef"}
    r = put(client, admin, [camera("porch", record={"url": "rtsp://10.0.0.7/main", "credentials": stale})], base=0)
    assert r.status_code == 409 and r.json()["error"]["code"] == "stale_config_key", r.text
    r = put(client, admin, [camera("porch", record={"url": "rtsp://10.0.0.7/main", "credentials": fake})], base=0)
    assert r.status_code == 201, r.text


def pull(client, relay, after: str | None = None) -> tuple[list[config_pb2.DesiredConfig], str]:
    path = "/api/v1/relay/configs" + (f"?after={after}" if after is not None else "")
    r = relay.get(client, path)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"configs", "cursor"}
    # Exactly the contract's message in the proto3 JSON mapping (unknown fields would fail here).
    configs = [json_format.ParseDict(c, config_pb2.DesiredConfig()) for c in body["configs"]]
    return configs, body["cursor"]


def test_a_cameras_input_size_is_stored_and_sent_to_its_device(client, home) -> None:
    """A camera's own network input size (issue #21), with its tiles, reaches the edge's DesiredConfig; back
    to 0 (the device's default) it is a new version that says so."""
    relay, admin = home
    street = camera("street", detection={"input_size": 640, "tiles": {"columns": 2, "rows": 1}})
    r = put(client, admin, [street, camera("porch")], base=0)
    assert r.status_code == 201, r.text
    got = client.get(config_url(), headers=admin.auth).json()["cameras"]
    assert [c["detection"]["input_size"] for c in got] == [640, 0]
    (config,), cursor = pull(client, relay)
    assert [(c.name, c.detection.input_size) for c in config.cameras] == [("street", 640), ("porch", 0)]
    assert (config.cameras[0].detection.tiles.columns, config.cameras[0].detection.tiles.rows) == (2, 1)

    got[0]["detection"]["input_size"] = 0
    r = put(client, admin, got, base=1)
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    (config,), _ = pull(client, relay, cursor)
    assert config.version == 2 and [c.detection.input_size for c in config.cameras] == [0, 0]


def test_relays_pull_the_newest_version_of_their_own_tenants_devices_after_a_cursor(client, app, home) -> None:
    relay, admin = home
    other_relay = add_relay(app, "relay-other")
    other = signup(client, "admin@other.example.org", tenant="Other home")
    enrol(client, other_relay, "edge-other")
    assert put(client, other, [camera("shed")], base=0).status_code == 404  # not its device
    assert put(client, other, [camera("shed")], base=0, device="edge-other").status_code == 201

    assert pull(client, relay) == ([], "0")
    assert put(client, admin, [camera("porch")], base=0).status_code == 201
    assert put(client, admin, [camera("door")], base=0, device="edge-garage").status_code == 201
    configs, cursor = pull(client, relay)
    assert [(c.device_id, c.version, [cam.name for cam in c.cameras]) for c in configs] == [
        (DEVICE, 1, ["porch"]), ("edge-garage", 1, ["door"])]
    assert configs[0].cameras[0].record.url == "rtsp://10.0.0.7:554/porch/main" and configs[0].HasField("created_at")
    assert pull(client, relay, cursor) == ([], cursor)

    assert put(client, admin, [camera("porch"), camera("yard")], base=1).status_code == 201
    assert put(client, admin, [camera("porch")], base=2).status_code == 201
    configs, newer = pull(client, relay, cursor)
    assert [(c.device_id, c.version, len(c.cameras)) for c in configs] == [(DEVICE, 3, 1)]  # the newest only
    configs, _ = pull(client, relay)
    assert sorted((c.device_id, c.version) for c in configs) == [("edge-garage", 1), (DEVICE, 3)]
    # The other tenant's relay sees only its own device; a revoked device is no longer handed out.
    configs, _ = pull(client, other_relay)
    assert [c.device_id for c in configs] == ["edge-other"]
    assert client.delete("/api/v1/devices/edge-garage", headers=admin.auth).status_code == 204
    assert [c.device_id for c in pull(client, relay)[0]] == [DEVICE]
    assert pull(client, relay, newer) == ([], newer)
    assert relay.get(client, "/api/v1/relay/configs?after=-1").status_code == 422


def test_reports_update_the_reported_state_and_older_ones_are_ignored(client, app, home) -> None:
    relay, admin = home
    edge = Edge()
    for base in range(3):
        assert put(client, admin, [camera("porch", retention_days=float(base + 1))], base=base).status_code == 201
    now = datetime.now(UTC)
    post_batch(client, relay, config_status=[status(
        DEVICE, 2, edge=edge, refused=3, reason="camera porch: retention too long for the disk",
        cameras={"porch": ("failed", "rtsp://admin:hunter2@10.0.0.7/main: 401 Unauthorized")}, at=now)])
    reported = client.get(config_url(), headers=admin.auth).json()["reported"]
    assert (reported["applied_version"], reported["refused_version"]) == (2, 3)
    assert reported["refused_reason"] == "camera porch: retention too long for the disk"
    assert reported["cameras"][0]["camera"] == "porch" and reported["cameras"][0]["state"] == "failed"
    assert "hunter2" not in reported["cameras"][0]["error"]  # an edge's slip is not stored either

    # Out of order: an older applied version, or the same version reported earlier, changes nothing.
    post_batch(client, relay, config_status=[status(DEVICE, 1, at=now + timedelta(seconds=5))])
    post_batch(client, relay, config_status=[status(DEVICE, 2, cameras={"porch": ("applied", "")},
                                                    at=now - timedelta(seconds=5))])
    reported = client.get(config_url(), headers=admin.auth).json()["reported"]
    assert (reported["applied_version"], reported["cameras"][0]["state"]) == (2, "failed")
    post_batch(client, relay, config_status=[status(DEVICE, 3, cameras={"porch": ("applied", "")})])
    devices = {d["id"]: d for d in client.get("/api/v1/devices", headers=admin.auth).json()}
    assert (devices[DEVICE]["applied_config_version"], devices[DEVICE]["desired_config_version"]) == (3, 3)

    # Devices the tenant does not hold (unknown, another tenant's) are counted as rejected, never enrolled.
    other_relay = add_relay(app, "relay-other")
    signup(client, "admin@other.example.org", tenant="Other home")
    enrol(client, other_relay, "edge-other")
    r = post_batch(client, relay, config_status=[status("edge-unknown", 1), status("edge-other", 7)])
    assert r.headers["X-Guardian-Rejected-Config-Status"] == "2"
    assert client.get("/api/v1/devices", headers=admin.auth).json()[-1]["id"] != "edge-unknown"

    # A key id that is not the key's: the batch is refused as malformed.
    bad = status(DEVICE, 3, edge=edge)
    bad.config_key_id = "0" * 16
    message = ingest_pb2.IngestBatch(relay_id=relay.id, config_status=[bad])
    r = relay.post(client, "/api/v1/ingest", json_format.MessageToJson(message).encode())
    assert r.status_code == 422 and "config_key_id" in r.text


def test_cameras_added_in_the_ui_go_by_the_name_given_there_everywhere(client, home) -> None:
    """Events, filters and notifications name a camera by the cameras list, which learns of a camera when the
    edge first reports it: a camera added in the UI must arrive there under its owner's name, not its id."""
    relay, admin = home

    def names() -> dict[str, str]:
        return {c["name"]: c["display_name"] for c in client.get("/api/v1/cameras", headers=admin.auth).json()}

    porch = camera("porch") | {"display_name": "Front porch"}
    assert put(client, admin, [porch], base=0).status_code == 201
    post_batch(client, relay, healths=[batches.health(DEVICE, {"porch": "streaming"}),
                                       batches.health("edge-garage", {"yard": "streaming"})])
    # A camera no config names (the garage's, from its own edge.toml) keeps its id as its name.
    assert names() == {"porch": "Front porch", "yard": "yard"}

    # Renamed in the camera form: the new name reaches the cameras list too.
    assert put(client, admin, [porch | {"display_name": "Porch (east)"}], base=1).status_code == 201
    assert names()["porch"] == "Porch (east)"
    # An empty name for people falls back to the camera's id, as everywhere in the UI.
    assert put(client, admin, [porch | {"display_name": ""}], base=2).status_code == 201
    assert names()["porch"] == "porch"


def test_a_rename_in_the_cameras_list_is_a_new_config_version_the_form_keeps(client, home) -> None:
    """Renaming a camera from the cameras list must reach its device's desired config (the edge and the camera
    form carry the name): otherwise the next save of the form would bring the old name back."""
    relay, admin = home
    porch = camera("porch") | {"display_name": "Front porch"}
    assert put(client, admin, [porch, camera("yard")], base=0).status_code == 201
    post_batch(client, relay, healths=[batches.health(DEVICE, {"porch": "streaming", "yard": "streaming"}),
                                       batches.health("edge-garage", {"shed": "streaming"})])
    ids = {c["name"]: c["id"] for c in client.get("/api/v1/cameras", headers=admin.auth).json()}
    before = {c["name"]: c for c in client.get(config_url(), headers=admin.auth).json()["cameras"]}

    r = client.patch(f"/api/v1/cameras/{ids['porch']}", headers=admin.auth, json={"display_name": "Porch (east)"})
    assert r.status_code == 200, r.text
    config = client.get(config_url(), headers=admin.auth).json()
    assert config["version"] == 2
    held = {c["name"]: c for c in config["cameras"]}
    assert held["porch"]["display_name"] == "Porch (east)"
    assert held["porch"] == before["porch"] | {"display_name": "Porch (east)"}
    assert held["yard"] == before["yard"]
    # The relay hands the renamed version to the device.
    pulled, _ = pull(client, relay)
    assert [(m.version, [c.display_name for c in m.cameras]) for m in pulled if m.device_id == DEVICE] == [
        (2, ["Porch (east)", "Yard"])]

    # The same name again, or a camera no config names (from the garage's own edge.toml): no new version.
    assert client.patch(f"/api/v1/cameras/{ids['porch']}", headers=admin.auth,
                        json={"display_name": "Porch (east)"}).status_code == 200
    assert client.patch(f"/api/v1/cameras/{ids['shed']}", headers=admin.auth,
                        json={"display_name": "Garden shed"}).status_code == 200
    assert client.get(config_url(), headers=admin.auth).json()["version"] == 2
    assert client.get(config_url("edge-garage"), headers=admin.auth).json()["version"] == 0

    # The form, saved from the version it loaded with another change, keeps the new name.
    r = put(client, admin, [held["porch"] | {"enabled": False}, held["yard"]], base=2)
    assert r.status_code == 201, r.text
    names = {c["name"]: c["display_name"] for c in client.get("/api/v1/cameras", headers=admin.auth).json()}
    assert names["porch"] == "Porch (east)"


def _every_text_in_the_database(app) -> str:
    with app.state.cloud.sessions() as session:
        return "\n".join(repr(tuple(row)) for table in metadata.sorted_tables
                         for row in session.execute(select(table)).all())


def test_no_plain_credential_in_the_clouds_database_or_logs_after_a_full_round(client, app, home) -> None:
    relay, admin = home
    edge = Edge()
    logs = io.StringIO()
    configure_logging("DEBUG", stream=logs)
    try:
        post_batch(client, relay, config_status=[status(DEVICE, 0, edge=edge)])
        key = client.get(config_url(), headers=admin.auth).json()["config_key"]
        sealed = seal(key["public_key"], key["key_id"], f"admin:{PASSWORD}")
        cameras = [camera("porch", record={"url": "rtsp://10.0.0.7/main", "credentials": sealed},
                          detect={"url": "rtsp://10.0.0.7/sub", "credentials": sealed})]
        # A user pasting the URL with its password is refused, and that attempt leaves no trace either.
        pasted = copy.deepcopy(cameras)
        pasted[0]["record"] = {"url": f"rtsp://admin:{PASSWORD}@10.0.0.7/main"}
        assert put(client, admin, pasted, base=0).status_code == 422
        r = put(client, admin, cameras, base=0)
        assert r.status_code == 201, r.text

        configs, _ = pull(client, relay)
        record = configs[0].cameras[0].record
        assert record.credentials.key_id == edge.key_id
        assert edge.open(record.credentials.ciphertext) == f"admin:{PASSWORD}".encode()  # only the edge can
        post_batch(client, relay, config_status=[status(DEVICE, 1, edge=edge, cameras={"porch": ("applied", "")})])
        assert client.get(config_url(), headers=admin.auth).json()["reported"]["applied_version"] == 1
    finally:
        configure_logging("INFO")

    stored = _every_text_in_the_database(app)
    ciphertext = base64.urlsafe_b64decode(sealed["ciphertext"] + "=" * (-len(sealed["ciphertext"]) % 4))
    assert base64.b64encode(ciphertext).decode() in stored  # the search does reach the saved configuration …
    assert PASSWORD not in stored and base64.b64encode(PASSWORD.encode()).decode() not in stored  # … not the secret
    assert "device_config_saved" in logs.getvalue() and PASSWORD not in logs.getvalue()
