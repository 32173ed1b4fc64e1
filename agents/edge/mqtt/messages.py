"""Topics and payloads: what Home Assistant and other MQTT clients read.

Under ``<prefix>/<node>/``: ``availability`` (``online``/``offline``, retained; the broker sends
``offline`` as the last will when the edge vanishes), ``events`` (a JSON message per start, update and
end), ``reviews`` (a JSON message per review item made, changed and ended: ``new``, ``update``, ``end``, as
Frigate's ``frigate/reviews``), and per camera ``<camera>/<label>/state`` (``ON``/``OFF``), ``<camera>/<label>/count``,
``<camera>/occupancy`` (JSON, count per label) and ``<camera>/snapshot`` (the latest event's JPEG), all
retained. Discovery configs go to ``homeassistant/<component>/<node>/<object>/config`` (retained).
``reviews/open/<item id>`` holds each open review item (retained; cleared when it ends) as its ``end`` would
say had it ended at its last activity told: a detector killed mid-item leaves it there, and the next run ends
the item from it (:class:`~agents.edge.mqtt.publisher.MqttPublisher`; each connection also sends one
``reviews/open/marker-<random>``, not retained, to learn when the broker has handed those over).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from agents.edge.mqtt.settings import BrokerSettings, object_id

DISCOVERY_PREFIX = "homeassistant"
ONLINE, OFFLINE = b"online", b"offline"


@dataclass(frozen=True)
class CameraInfo:
    name: str
    display_name: str
    labels: tuple[str, ...]  # the labels it reports: a binary sensor and a count each


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True)
class EventNotice:
    """An event as it stood when the manager told of it (the row changes later, on another thread)."""

    phase: str  # "start" | "update" | "end"
    event_id: str
    camera: str
    label: str
    zones: tuple[str, ...]
    start: datetime
    end: datetime | None
    severity: str | None  # when the events pipeline sets one
    snapshot: str | None  # path of the JPEG written at the end


@dataclass(frozen=True)
class ItemNotice:
    """A review item as it stood when the manager told of it (it changes later, on another thread)."""

    phase: str  # "new" | "update" | "end"
    item_id: str
    camera: str
    start: datetime
    end: datetime | None  # with "end" only: until then the item may grow
    labels: tuple[str, ...]
    zones: tuple[str, ...]
    severity: str
    event_ids: tuple[str, ...]
    active_until: datetime  # the end of its events' activity so far


class Topics:
    def __init__(self, broker: BrokerSettings) -> None:
        self.node = broker.node_id
        self.base = f"{broker.topic_prefix}/{broker.node_id}"
        self.availability = f"{self.base}/availability"
        self.events = f"{self.base}/events"
        self.reviews = f"{self.base}/reviews"
        self.open_items = f"{self.base}/reviews/open/+"  # what a new connection subscribes to

    def open_item(self, item_id: str) -> str:
        return f"{self.base}/reviews/open/{item_id}"

    def state(self, camera: str, label: str) -> str:
        return f"{self.base}/{camera}/{object_id(label)}/state"

    def count(self, camera: str, label: str) -> str:
        return f"{self.base}/{camera}/{object_id(label)}/count"

    def occupancy(self, camera: str) -> str:
        return f"{self.base}/{camera}/occupancy"

    def snapshot(self, camera: str) -> str:
        return f"{self.base}/{camera}/snapshot"

    def discovery(self, component: str, object_name: str) -> str:
        return f"{DISCOVERY_PREFIX}/{component}/{self.node}/{object_name}/config"


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def discovery_messages(topics: Topics, camera: CameraInfo, labels: tuple[str, ...]) -> list[Message]:
    """Home Assistant's configs for a camera: a binary sensor and a count per label, and the snapshot image.
    The camera is a device of its own, reached through the edge."""
    device = {"identifiers": [f"{topics.node}_{camera.name}"], "name": camera.display_name or camera.name,
              "manufacturer": "Private AI Guardian", "model": "Guardian camera", "via_device": topics.node}
    common = {"availability_topic": topics.availability, "payload_available": ONLINE.decode(),
              "payload_not_available": OFFLINE.decode(), "device": device}
    messages = []
    for label in labels:
        oid = f"{camera.name}_{object_id(label)}"
        messages.append(Message(topics.discovery("binary_sensor", oid), _json({
            "name": label.capitalize(), "unique_id": f"{topics.node}_{oid}", "device_class": "occupancy",
            "state_topic": topics.state(camera.name, label), "payload_on": "ON", "payload_off": "OFF", **common,
        }), retain=True))
        messages.append(Message(topics.discovery("sensor", f"{oid}_count"), _json({
            "name": f"{label.capitalize()} count", "unique_id": f"{topics.node}_{oid}_count",
            "state_topic": topics.count(camera.name, label), "state_class": "measurement", **common,
        }), retain=True))
    oid = f"{camera.name}_snapshot"
    messages.append(Message(topics.discovery("image", oid), _json({
        "name": "Snapshot", "unique_id": f"{topics.node}_{oid}", "image_topic": topics.snapshot(camera.name),
        "content_type": "image/jpeg", **common,
    }), retain=True))
    return messages


def occupancy_messages(topics: Topics, camera: str, label: str, counts: dict[str, int]) -> list[Message]:
    """The label's state and count on ``camera``, and the camera's occupancy by label."""
    count = counts.get(label, 0)
    return [
        Message(topics.state(camera, label), b"ON" if count else b"OFF", retain=True),
        Message(topics.count(camera, label), str(count).encode(), retain=True),
        Message(topics.occupancy(camera), _json({k: v for k, v in sorted(counts.items()) if v}), retain=True),
    ]


def event_message(topics: Topics, notice: EventNotice, camera: CameraInfo | None) -> Message:
    event: dict[str, object] = {
        "id": notice.event_id, "camera": notice.camera,
        "camera_name": camera.display_name if camera is not None and camera.display_name else notice.camera,
        "label": notice.label, "zones": list(notice.zones), "start": notice.start.isoformat(),
        "end": notice.end.isoformat() if notice.end is not None else None,
        "has_snapshot": notice.snapshot is not None,
    }
    if notice.severity is not None:
        event["severity"] = notice.severity
    return Message(topics.events, _json({"type": notice.phase, "event": event}), retain=False)


def _item(notice: ItemNotice, camera: CameraInfo | None, end: datetime | None) -> dict[str, object]:
    return {
        "id": notice.item_id, "camera": notice.camera,
        "camera_name": camera.display_name if camera is not None and camera.display_name else notice.camera,
        "start": notice.start.isoformat(), "end": end.isoformat() if end is not None else None,
        "labels": list(notice.labels), "zones": list(notice.zones), "severity": notice.severity,
        "events": list(notice.event_ids),
    }


def review_message(topics: Topics, notice: ItemNotice, camera: CameraInfo | None) -> Message:
    return Message(topics.reviews, _json({"type": notice.phase, "item": _item(notice, camera, notice.end)}),
                   retain=False)


def open_item_message(topics: Topics, notice: ItemNotice, camera: CameraInfo | None) -> Message:
    """The item while it is open (retained), as its end would say at its last activity so far."""
    return Message(topics.open_item(notice.item_id), _json(_item(notice, camera, notice.active_until)), retain=True)


def leftover_end_message(topics: Topics, item_id: str, payload: bytes) -> Message | None:
    """The end of an item an earlier run left open (its ``reviews/open`` message); None if it cannot be read."""
    try:
        item = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(item, dict) or item.get("id") != item_id:
        return None
    return Message(topics.reviews, _json({"type": "end", "item": item}), retain=False)
