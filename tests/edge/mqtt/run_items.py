"""The detector's MQTT side in a process of its own (for the kill -9 test): the edge database the test set up
(a camera and the ``mqtt`` section applied), the detection service's link and a camera's real event manager and
tracker. ``walk``: a person walks in and stays (an event and a review item open); ``idle``: nothing happens (the
detector restarted on a quiet scene). Prints ``ready`` once connected and done, then waits to be killed. Logs
go to stderr, so that stdout holds the marker alone."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np

from agents.edge.camera_config.cameras import KeySource
from agents.edge.camera_config.key import config_key_path
from agents.edge.db import open_database
from agents.edge.events.manager import EventManager
from agents.edge.events.store import EventStore
from agents.edge.mqtt.link import MqttLink
from agents.edge.tracking.config import TrackingSection
from agents.edge.tracking.tracker import Tracker
from agents.edge.tracking.types import Detection
from guardian.runtime.logging import configure_logging
from guardian.runtime.metrics import AgentMetrics
from tests.edge.mqtt.test_publisher import JpegMedia


def main(directory: Path, mode: str) -> None:
    configure_logging("INFO", stream=sys.stderr)
    _, sessions = open_database(directory / "edge.db")
    link = MqttLink(sessions, KeySource(config_key_path(directory)), ["person"], AgentMetrics("edge"))
    link.refresh()
    if link.publisher is None or not link.publisher.wait_connected(30):
        raise SystemExit("not connected to the broker")
    if mode == "walk":
        manager = EventManager("porch", EventStore(sessions), JpegMedia(), directory, "m@1", deferred=True)
        manager.observer = link
        tracker = Tracker(TrackingSection(confirm_hits=2, end_after_s=1.0))
        frame = np.full((48, 64, 3), 200, dtype=np.uint8)
        start = time.time()
        for i in range(10):  # 2 s at 5 frames/s, walking in; then the process is killed
            x, t = 0.1 + 0.03 * i, start + i * 0.2
            manager.handle(tracker.update([Detection("person", 0.9, (x, 0.3, x + 0.1, 0.8))], t), frame, t)
            manager.tick(t)
        EventStore(sessions).save_all(manager.take_unsaved())
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
