"""The detector killed (SIGKILL) while a review item is open (issue #20): after it starts again, the item it
told Home Assistant of gets its one ``end`` on ``<prefix>/<node>/reviews`` — the same id, never a second
``new`` — and the camera's sensors read "nobody" again (state, count, occupancy), so nothing stays "on".
Real processes (tests/edge/mqtt/run_items.py: the detection service's MQTT link, a real event manager and
tracker) against a real Mosquitto. And in one process: an item that ends while the connection to the broker
is down gets its real end when it is back, and a publisher restarted by a config change goes on with the
items open (it does not end them as leftovers)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agents.edge.camera_config.key import ConfigKey, config_key_path
from agents.edge.camera_config.store import Outcome, apply
from agents.edge.events.manager import EventManager
from agents.edge.events.review_items import GAP_S
from agents.edge.events.store import EventStore
from agents.edge.tracking.config import TrackingSection
from agents.edge.tracking.tracker import Tracker
from agents.edge.tracking.types import Detection
from tests.edge.mqtt.broker import PASSWORD, WAIT_S, Mosquitto, Subscriber
from tests.edge.mqtt.test_publisher import BASE, DEVICE, JpegMedia, _desired, _edge, _value, _wait

REVIEWS = f"{BASE}/reviews"
T0 = 1_780_000_000.0
ROOT = Path(__file__).parents[3]


@contextmanager
def _detector(directory: Path, mode: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-m", "tests.edge.mqtt.run_items", str(directory), mode],
                               env={**os.environ, "MQTT_PASSWORD": PASSWORD}, stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"  # or b"": it failed, and exited (its stderr says why)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=WAIT_S)


def _reviews(subscriber: Subscriber, after: int) -> list[dict]:
    return [json.loads(p) for topic, p, _, _ in subscriber.messages[after:] if topic == REVIEWS]


def test_an_item_open_when_the_detector_is_killed_is_ended_after_the_restart(tmp_path: Path, broker: Mosquitto,
                                                                             subscriber: Subscriber) -> None:
    _edge(tmp_path, broker.port)  # the camera and the mqtt section applied (the link it makes is not started)
    with _detector(tmp_path, "walk") as walking:
        new = json.loads(subscriber.wait_for(REVIEWS, lambda p: json.loads(p)["type"] == "new"))
        assert subscriber.wait_for(f"{BASE}/porch/person/state", lambda p: p == b"ON")
        walking.send_signal(signal.SIGKILL)  # mid-item: no end, no goodbye
        walking.wait(timeout=WAIT_S)
    item = new["item"]["id"]
    mark = len(subscriber.messages)
    with _detector(tmp_path, "idle"):
        ended = json.loads(subscriber.wait_for(REVIEWS, lambda p: json.loads(p)["type"] == "end", mark))
        assert subscriber.wait_for(f"{BASE}/porch/person/state", lambda p: p == b"OFF", mark)
        assert subscriber.wait_for(f"{BASE}/porch/person/count", lambda p: p == b"0", mark)
        assert json.loads(subscriber.wait_for(f"{BASE}/porch/occupancy", after=mark)) == {}
        assert subscriber.wait_for(f"{BASE}/availability", lambda p: p == b"online", mark)
    assert ended["item"]["id"] == item and ended["item"]["events"] == new["item"]["events"]
    assert ended["item"]["labels"] == ["person"] and ended["item"]["start"] == new["item"]["start"]
    assert ended["item"]["end"] is not None and ended["item"]["end"] >= ended["item"]["start"]
    assert [m["type"] for m in _reviews(subscriber, mark)] == ["end"]  # not a second "new", one end


def _walker(sessions: Any, link: Any, tmp_path: Path) -> tuple[EventManager, Tracker, np.ndarray, str]:
    """A person walking into the porch camera's view for 0.8 s: one review item, open (its id returned)."""
    manager = EventManager("porch", EventStore(sessions), JpegMedia(), tmp_path, "m@1", deferred=True)
    manager.observer = link
    tracker = Tracker(TrackingSection(confirm_hits=2, end_after_s=1.0))
    frame = np.full((48, 64, 3), 200, dtype=np.uint8)
    for i in range(5):
        x, t = 0.1 + 0.05 * i, T0 + i * 0.2
        manager.handle(tracker.update([Detection("person", 0.9, (x, 0.3, x + 0.1, 0.8))], t), frame, t)
    (item,) = manager.items.open
    return manager, tracker, frame, item


def test_an_item_that_ends_while_the_connection_is_down_is_ended_when_it_is_back(tmp_path: Path, broker: Mosquitto,
                                                                                  subscriber: Subscriber) -> None:
    sessions, link, metrics = _edge(tmp_path, broker.port)
    link.refresh()
    try:
        publisher = link.publisher
        assert publisher is not None and publisher.wait_connected(WAIT_S)
        manager, tracker, frame, item = _walker(sessions, link, tmp_path)
        assert subscriber.wait_for(REVIEWS, lambda p: json.loads(p)["type"] == "new")
        mark = len(subscriber.messages)
        publisher.client.socket().shutdown(socket.SHUT_RDWR)  # the LAN drops the connection (paho reconnects)
        _wait(lambda: _value(metrics, "connected") == 0)
        manager.handle(tracker.update([], T0 + 2.5), frame, T0 + 2.5)  # gone
        manager.tick(T0 + 2.5 + GAP_S + 1)  # the item ends while the broker cannot hear of it
        assert not manager.items.open
        ended = json.loads(subscriber.wait_for(REVIEWS, lambda p: json.loads(p)["type"] == "end", mark))
        assert subscriber.wait_for(f"{REVIEWS}/open/{item}", lambda p: p == b"", mark) == b""  # and cleared
    finally:
        link.close()
    # The end as the manager made it (its last activity), not the open copy's (as of its "new").
    assert ended["item"]["id"] == item and ended["item"]["end"] == datetime.fromtimestamp(T0 + 0.8, UTC).isoformat()
    assert _value(metrics, "connects_total") == 2


def test_a_publisher_restarted_by_a_config_change_goes_on_with_the_open_items(tmp_path: Path, broker: Mosquitto,
                                                                              subscriber: Subscriber) -> None:
    sessions, link, _ = _edge(tmp_path, broker.port)
    link.refresh()
    mark = 0
    try:
        first = link.publisher
        assert first is not None and first.wait_connected(WAIT_S)
        manager, _, _, item = _walker(sessions, link, tmp_path)
        assert subscriber.wait_for(f"{REVIEWS}/open/{item}", bool) and first.caught_up.wait(WAIT_S)
        key = ConfigKey.load_or_create(config_key_path(tmp_path))
        desired = _desired(key, broker.port)
        desired.version, desired.mqtt.discovery = 2, False  # another broker setting: a new publisher
        assert apply(sessions, desired, key, DEVICE).outcome is Outcome.APPLIED
        link.refresh()
        second = link.publisher
        assert second is not None and second is not first and second.caught_up.wait(WAIT_S)
        assert list(manager.items.open) == [item]
        mark = len(subscriber.messages)
    finally:
        link.close()
    assert subscriber.wait_for(f"{BASE}/availability", lambda p: p == b"offline", mark)  # after all it sent
    told = [(m["type"], m["item"]["id"]) for m in _reviews(subscriber, 0)]
    assert told == [("new", item)]  # the open item is not taken for a leftover
