"""Checking a desired config before it is applied: as a whole (refused entirely) and per camera (the camera
is marked failed, the others apply).

Refused as a whole: another device's config, version 0, a camera name that is not a valid name or is
repeated (names key the cameras' rows, footage and events), an ``mqtt``
section with a bad host, port or topic prefix. Failed per camera: a stream URL that is not
``rtsp://``/``rtsps://`` with a host and no credentials in it, credentials that cannot be opened with this
edge's key, detection settings out of range (scores, areas, polygons, tiles, input size). Messages never contain a URL or
credentials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from google.protobuf.json_format import MessageToJson

from agents.edge.camera_config.errors import CredentialsUnavailable
from agents.edge.camera_config.key import ConfigKey
from guardian.contracts.edge.v1 import config_pb2

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")  # as edge.toml's camera names
MAX_URL = 1024
MAX_DISPLAY_NAME = 128
MAX_TILES = 4  # tiles per side: 4×4 + the whole frame is 17 inferences a frame
MAX_LABEL = 32
# A camera's network input side: what NanoDet reshapes to (multiples of its largest stride, 32), from about
# the smallest that still finds people to the cost of 6 inferences at 416.
INPUT_SIZES = range(256, 1024 + 1, 32)


@dataclass(frozen=True)
class CameraPlan:
    """One camera of a desired config, checked: what its row will hold, and why it failed (None: applies)."""

    name: str
    display_name: str
    enabled: bool
    record_url: str
    detect_url: str | None
    record_credentials: bytes | None
    detect_credentials: bytes | None
    detection_json: str
    error: str | None


@dataclass(frozen=True)
class Checked:
    cameras: list[CameraPlan]
    refused: str | None  # why the version is refused as a whole; None: it applies


def check(desired: config_pb2.DesiredConfig, key: ConfigKey | None, device_id: str | None) -> Checked:
    if device_id and desired.device_id and desired.device_id != device_id:
        return Checked([], "the config is for another device")
    if desired.version == 0:
        return Checked([], "version 0 is not a version")
    names = [c.name for c in desired.cameras]
    bad = [n for n in names if not NAME.match(n)]
    if bad:
        return Checked([], f"invalid camera name(s): {', '.join(repr(n[:40]) for n in bad)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return Checked([], f"camera names repeated: {', '.join(repeated)}")
    mqtt_error = _mqtt_error(desired.mqtt) if desired.HasField("mqtt") else None
    if mqtt_error is not None:
        return Checked([], f"mqtt: {mqtt_error}")
    return Checked([_camera(c, key) for c in desired.cameras], None)


MQTT_HOST = re.compile(r"^[A-Za-z0-9.:\[\]_-]{1,253}$")  # a name, an IPv4 or an [IPv6] address
MQTT_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")  # no wildcards, no empty level


def _mqtt_error(mqtt: config_pb2.MqttConfig) -> str | None:
    """The broker's settings (the password is opened by the publisher; it refuses nothing else)."""
    if mqtt.enabled and not MQTT_HOST.match(mqtt.host):
        return "the broker's host is missing or not a host name or address"
    if mqtt.port > 65535:
        return "the port is above 65535"
    if mqtt.topic_prefix and (len(mqtt.topic_prefix) > 64 or not MQTT_PREFIX.match(mqtt.topic_prefix)):
        return "the topic prefix must be up to 64 letters, digits, _ - and / (no wildcards)"
    if len(mqtt.username) > 128:
        return "the user name is longer than 128 characters"
    return None


def _camera(camera: config_pb2.CameraConfig, key: ConfigKey | None) -> CameraPlan:
    has_detect = camera.HasField("detect") and bool(camera.detect.url)
    error = (
        _stream_error("record", camera.record)
        or (_stream_error("detect", camera.detect) if has_detect else None)
        or _detection_error(camera.detection)
        or _credentials_error(camera, key, has_detect)
        or (f"display name longer than {MAX_DISPLAY_NAME} characters" if len(camera.display_name) > MAX_DISPLAY_NAME else None)
        or ("retention_days must not be negative" if camera.retention_days < 0 else None)
    )
    return CameraPlan(
        name=camera.name,
        display_name=camera.display_name[:MAX_DISPLAY_NAME],
        enabled=camera.enabled,
        # A URL that failed the check is not kept (it might hold what it must not).
        record_url=camera.record.url if error is None else "",
        detect_url=(camera.detect.url if has_detect else None) if error is None else None,
        record_credentials=_sealed(camera.record),
        detect_credentials=_sealed(camera.detect) if has_detect else None,
        detection_json=MessageToJson(camera.detection, indent=None) if camera.HasField("detection") else "",
        error=error,
    )


def _sealed(source: config_pb2.StreamSource) -> bytes | None:
    return source.credentials.ciphertext if source.HasField("credentials") and source.credentials.ciphertext else None


def _stream_error(role: str, source: config_pb2.StreamSource) -> str | None:
    url = source.url
    if not url:
        return f"no {role} stream URL"
    if len(url) > MAX_URL:
        return f"{role} stream URL longer than {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return f"{role} stream URL is not a URL"
    if parts.scheme not in ("rtsp", "rtsps"):
        return f"{role} stream URL must be rtsp:// or rtsps://"
    if "@" in parts.netloc:
        return f"{role} stream URL must not contain credentials (they travel sealed)"
    if not parts.hostname:
        return f"{role} stream URL has no host"
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        return f"{role} stream URL contains white space or control characters"
    return None


def _credentials_error(camera: config_pb2.CameraConfig, key: ConfigKey | None, has_detect: bool) -> str | None:
    sources = [("record", camera.record)] + ([("detect", camera.detect)] if has_detect else [])
    for role, source in sources:
        sealed = _sealed(source)
        if sealed is None:
            continue
        if key is None:
            return f"{role} credentials: this edge has no config key yet"
        if source.credentials.key_id and source.credentials.key_id != key.key_id:
            return f"{role} credentials were sealed to another key ({source.credentials.key_id[:16]}), not {key.key_id}"
        try:
            key.open(camera.name, sealed)  # opened to check, then dropped
        except CredentialsUnavailable as exc:
            return f"{role} credentials: {exc.reason}"
    return None


def _detection_error(detection: config_pb2.DetectionConfig) -> str | None:
    for label in (*detection.labels, *detection.alert_labels):
        if not label or len(label) > MAX_LABEL:
            return "detection labels must be 1 to 32 characters"
    for threshold in detection.thresholds:
        if not threshold.label or not 0 < threshold.min_score < 1:
            return f"threshold for {threshold.label[:MAX_LABEL]!r} must be between 0 and 1"
    if not 0 <= detection.min_area < 1:
        return "min_area must be at least 0 and below 1"
    if detection.HasField("tiles"):  # the detector's TileGrid takes the same ranges
        tiles = detection.tiles
        if not (1 <= tiles.columns <= MAX_TILES and 1 <= tiles.rows <= MAX_TILES):
            return f"tiles: columns and rows must be 1 to {MAX_TILES}"
        if not 0 <= tiles.overlap < 0.5:
            return "tiles: overlap must be at least 0 and below 0.5"
    if detection.input_size and detection.input_size not in INPUT_SIZES:
        return f"input_size must be 0 (the edge's default) or a multiple of 32 from 256 to 1024, not {detection.input_size}"
    for kind, polygons in (("zone", detection.zones), ("mask", detection.masks)):
        for polygon in polygons:
            if len(polygon.points) < 3:
                return f"{kind} {polygon.name[:40]!r} needs at least 3 points"
            if any(not (0 <= p.x <= 1 and 0 <= p.y <= 1) for p in polygon.points):
                return f"{kind} {polygon.name[:40]!r} has points outside the picture (0..1)"
    unknown = sorted(set(detection.alert_zones) - {zone.name for zone in detection.zones})
    if unknown:
        return f"alert zone {unknown[0][:40]!r} is not one of the camera's zones"
    return None
