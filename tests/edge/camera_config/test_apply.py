"""Applying desired configs to the edge database (real SQLite): atomic, idempotent, older versions refused,
a broken camera isolated, credentials kept sealed on disk and opened only into the in-memory stream URL."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from agents.edge.camera_config import store
from agents.edge.camera_config.cameras import KeySource, runnable_cameras
from agents.edge.camera_config.key import ConfigKey, config_key_path, key_id_of
from agents.edge.camera_config.store import Outcome
from agents.edge.config import CameraSettings
from agents.edge.db import open_database
from agents.edge.db.tables import ConfigVersion
from agents.edge.detection.camera_rules import CameraRules
from agents.edge.video.cameras import list_cameras, sync_cameras
from guardian.contracts.edge.v1 import config_pb2
from tests.sqlite_contents import sql_dump

from .helpers import DEVICE, camera, desired, seal

PASSWORD = "s3cret-Pass!word"


@pytest.fixture
def key(tmp_path: Path) -> ConfigKey:
    return ConfigKey.load_or_create(config_key_path(tmp_path / "data"))


@pytest.fixture
def db(tmp_path: Path):
    _engine, sessions = open_database(tmp_path / "data" / "edge.db")
    return sessions


def database_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (tmp_path / "data").glob("edge.db*"))


def apply(db, key, config: config_pb2.DesiredConfig) -> store.ApplyResult:
    return store.apply(db, config, key, DEVICE)


def test_the_config_key_is_made_once_private_and_reported(tmp_path: Path, key: ConfigKey) -> None:
    path = config_key_path(tmp_path / "data")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ConfigKey.load_or_create(path)
    assert again.public_key == key.public_key and len(key.public_key) == 32
    assert key.key_id == key_id_of(key.public_key) and len(key.key_id) == 16
    assert key.as_proto().public_key == key.public_key
    assert bytes(key.private) not in repr(key).encode()


def test_a_desired_config_replaces_edge_toml_cameras_and_applies_once(tmp_path: Path, db, key: ConfigKey) -> None:
    sync_cameras(db, [CameraSettings(name="lab", record_url="rtsp://10.0.0.9/lab")])
    assert [c.name for c in runnable_cameras(db)] == ["lab"]

    v1 = desired(1, camera("front", "rtsp://10.0.0.5:554/main", seal(key, "admin", PASSWORD), display_name="Front door"),
                 camera("yard", "rtsp://10.0.0.6/main"))
    result = apply(db, key, v1)
    assert result.outcome is Outcome.APPLIED and result.applied_version == 1 and result.failed == ()
    assert [c.name for c in runnable_cameras(db)] == ["front", "yard"]
    rows = {c.name: c for c in list_cameras(db)}
    assert rows["lab"].enabled is False and rows["lab"].config_state == "removed"
    assert rows["front"].display_name == "Front door" and rows["front"].source == "desired"

    # edge.toml no longer decides (a recorder restarting with it changes nothing).
    sync_cameras(db, [CameraSettings(name="lab", record_url="rtsp://10.0.0.9/lab")])
    assert [c.name for c in runnable_cameras(db)] == ["front", "yard"]

    dump = sql_dump(tmp_path / "data" / "edge.db")
    assert apply(db, key, v1).outcome is Outcome.UNCHANGED
    assert sql_dump(tmp_path / "data" / "edge.db") == dump

    report = store.report(db, key)
    assert report.applied_version == 1 and report.refused_version == 0
    assert report.config_key.key_id == key.key_id and report.config_key.public_key == key.public_key
    assert [(c.camera, c.state) for c in report.cameras] == [("front", "applied"), ("lab", "removed"), ("yard", "applied")]


def test_an_older_version_is_refused_and_changes_nothing(tmp_path: Path, db, key: ConfigKey) -> None:
    assert apply(db, key, desired(2, camera("front", "rtsp://10.0.0.5/main"))).outcome is Outcome.APPLIED
    dump = sql_dump(tmp_path / "data" / "edge.db")
    result = apply(db, key, desired(1, camera("old", "rtsp://10.0.0.7/main")))
    assert result.outcome is Outcome.STALE and result.applied_version == 2
    assert sql_dump(tmp_path / "data" / "edge.db") == dump
    assert [c.name for c in runnable_cameras(db)] == ["front"]


def test_a_broken_camera_fails_alone(db, key: ConfigKey) -> None:
    other = ConfigKey(type(key.private).generate())
    result = apply(db, key, desired(
        3,
        camera("good", "rtsp://10.0.0.5/main", seal(key, "admin", PASSWORD)),
        camera("badurl", "http://10.0.0.6/stream"),
        camera("inline", "rtsp://admin:pw@10.0.0.6/stream"),
        camera("otherkey", "rtsp://10.0.0.7/main", seal(other, "admin", PASSWORD)),
        camera("badmask", "rtsp://10.0.0.8/main", detection=config_pb2.DetectionConfig(
            masks=[config_pb2.Polygon(name="walk", points=[config_pb2.Point(x=0.1, y=0.1), config_pb2.Point(x=2, y=0)])])),
    ))
    assert result.outcome is Outcome.APPLIED
    assert sorted(result.failed) == ["badmask", "badurl", "inline", "otherkey"]
    assert [c.name for c in runnable_cameras(db)] == ["good"]
    states = {c.camera: (c.state, c.error) for c in store.report(db, key).cameras}
    assert states["good"] == ("applied", "")
    assert "rtsp://" in states["badurl"][1]
    assert "must not contain credentials" in states["inline"][1]
    assert "another key" in states["otherkey"][1]
    assert "3 points" in states["badmask"][1]
    rows = {c.name: c for c in list_cameras(db)}
    assert rows["inline"].record_url == ""  # a URL with credentials in it is not kept
    assert rows["badurl"].state == "failed" and rows["badurl"].failure == "config"


def test_a_cameras_input_size_is_checked_and_kept_for_the_detector(db, key: ConfigKey) -> None:
    """0 (the edge's default) or a multiple of 32 from 256 to 1024 (what the detector reshapes NanoDet to);
    another size fails that camera alone."""
    result = apply(db, key, desired(
        1,
        camera("fine", "rtsp://10.0.0.5/main", detection=config_pb2.DetectionConfig(input_size=640)),
        camera("plain", "rtsp://10.0.0.6/main", detection=config_pb2.DetectionConfig(input_size=0)),
        camera("odd", "rtsp://10.0.0.7/main", detection=config_pb2.DetectionConfig(input_size=600)),
        camera("huge", "rtsp://10.0.0.8/main", detection=config_pb2.DetectionConfig(input_size=1056)),
    ))
    assert result.outcome is Outcome.APPLIED and sorted(result.failed) == ["huge", "odd"]
    states = {c.camera: c.error for c in store.report(db, key).cameras}
    assert "input_size" in states["odd"] and "600" in states["odd"]
    specs = {c.name: c for c in runnable_cameras(db)}
    assert sorted(specs) == ["fine", "plain"]
    assert CameraRules.from_json("fine", specs["fine"].detection_json).input_size == 640
    assert CameraRules.from_json("plain", specs["plain"].detection_json).input_size == 0


def test_an_invalid_version_is_refused_as_a_whole(db, key: ConfigKey) -> None:
    apply(db, key, desired(1, camera("front", "rtsp://10.0.0.5/main")))
    for config, why in (
        (desired(2, camera("front", "rtsp://10.0.0.5/a"), camera("front", "rtsp://10.0.0.5/b")), "repeated"),
        (desired(3, camera("Front Door", "rtsp://10.0.0.5/a")), "invalid camera name"),
        (desired(4, camera("front", "rtsp://10.0.0.5/a"), device_id="dev-2"), "another device"),
    ):
        result = apply(db, key, config)
        assert result.outcome is Outcome.REFUSED and why in result.reason
        assert [c.name for c in runnable_cameras(db)] == ["front"]
    report = store.report(db, key)
    assert report.applied_version == 1 and report.refused_version == 4 and "another device" in report.refused_reason
    # A valid later version applies past the refused ones; the two newest applied are kept.
    assert apply(db, key, desired(5, camera("back", "rtsp://10.0.0.9/main"))).outcome is Outcome.APPLIED
    assert apply(db, key, desired(6, camera("back", "rtsp://10.0.0.9/main"))).outcome is Outcome.APPLIED
    assert store.report(db, key).refused_version == 0
    with db() as session:
        assert [(v.version, v.status) for v in session.scalars(select(ConfigVersion).order_by(ConfigVersion.version))] == [
            (4, "refused"), (5, "applied"), (6, "applied")]


def test_credentials_stay_sealed_on_disk_and_open_only_into_the_stream_url(tmp_path: Path, db, key: ConfigKey) -> None:
    apply(db, key, desired(1, camera("front", "rtsp://10.0.0.5:554/main?channel=1", seal(key, "ad min", PASSWORD))))
    on_disk = database_bytes(tmp_path)
    assert PASSWORD.encode() not in on_disk and quote(PASSWORD, safe="").encode() not in on_disk
    [spec] = runnable_cameras(db)
    assert spec.record_credentials is not None and spec.record_url == "rtsp://10.0.0.5:554/main?channel=1"
    url = spec.record_stream_url(KeySource(config_key_path(tmp_path / "data")))
    assert url == "rtsp://ad%20min:s3cret-Pass%21word@10.0.0.5:554/main?channel=1"
    assert spec.detect_stream_url(KeySource(config_key_path(tmp_path / "data"))) == url
    assert PASSWORD not in repr(spec)
