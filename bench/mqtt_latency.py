"""MQTT latency: a detector result that opens an event until the event's message is received from the LAN
broker, beside a raw paho publish → receive round trip as the baseline, measured in the same run.

    .venv/bin/python bench/mqtt_latency.py [--events 200] [--gap-ms 20]

A real Mosquitto (started here as the tests start it: a temporary config, a free port, a user and password)
and the edge's own path: a tracker and event manager (deferred, as in the detector's event thread) whose
observer is the MQTT publisher. Each round hands the tracker the result that confirms a new track (the
time is taken just before ``EventManager.handle``) and stops when a subscriber on the same broker receives
the ``start`` message of that event (the subscriber's receive time), and, timed from the same start, at the
``new`` message of its review item on ``reviews``; the track then ends and the item with it (their end and
occupancy messages are published too, outside the timing). The baseline publishes a message of the same
size with a plain paho client and times its arrival at the same subscriber. p50/p95 over ``--events``;
the issue's goal is p95 ≤ 200 ms. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.edge.db import open_database
from agents.edge.events.manager import EventManager
from agents.edge.events.review_items import GAP_S
from agents.edge.events.store import EventStore
from agents.edge.mqtt.messages import CameraInfo
from agents.edge.mqtt.metrics import MqttMetrics
from agents.edge.mqtt.publisher import MqttPublisher
from agents.edge.mqtt.settings import BrokerSettings
from agents.edge.tracking.config import TrackingSection
from agents.edge.tracking.tracker import Tracker
from agents.edge.tracking.types import Detection
from guardian.runtime.logging import configure_logging
from guardian.runtime.metrics import AgentMetrics
from tests.edge.mqtt.broker import PASSWORD, USER, Mosquitto

NODE = "guardian_bench"


class NoMedia:
    def snapshot(self, frame, box, snapshot, thumbnail) -> None:
        snapshot.write_bytes(b"\xff\xd8\xff\xd9")  # an empty JPEG: the publisher reads and sends it

    def clip(self, camera, start, end, target, partial_ok=False):
        return None


class Arrivals:
    """A subscriber that hands each message's receive time (perf_counter) to whoever waits for it."""

    def __init__(self, port: int, topic: str) -> None:
        self.key_of = lambda payload: payload
        self.times: dict[bytes, float] = {}
        self.changed = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(USER, PASSWORD)
        subscribed = threading.Event()
        self.client.on_connect = lambda client, *a: client.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        subscribed.wait(10)

    def _on_message(self, client, userdata, message) -> None:
        at = time.perf_counter()
        with self.changed:
            self.times[self.key_of(message.payload)] = at
            self.changed.notify_all()

    def wait(self, key: bytes, timeout: float = 10.0) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: key in self.times, timeout):
                raise TimeoutError(f"no message for {key!r}")
            return self.times.pop(key)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def report(name: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(f"{name:<44} n={len(ms):<4} p50={percentile(ms, 50):7.2f} ms  p95={percentile(ms, 95):7.2f} ms  "
          f"max={max(ms):7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=20.0)
    args = parser.parse_args()
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp))
        broker.start()
        try:
            run(broker.port, Path(tmp), args.events, args.gap_ms / 1000)
        finally:
            broker.stop()


def run(port: int, tmp: Path, events: int, gap: float) -> None:
    settings = BrokerSettings("127.0.0.1", port, USER, PASSWORD, "bench", True, False, NODE)
    publisher = MqttPublisher(settings, {"porch": CameraInfo("porch", "Porch", ("person",))},
                              MqttMetrics.on(AgentMetrics("edge")))
    publisher.start()
    if not publisher.wait_connected(10):
        raise SystemExit("the publisher did not connect to the broker")

    # Baseline: a plain client, the same broker and subscriber, a payload of an event message's size.
    baseline_topic = "bench/baseline"
    baseline_arrivals = Arrivals(port, baseline_topic)
    raw = mqtt.Client(CallbackAPIVersion.VERSION2)
    raw.username_pw_set(USER, PASSWORD)
    raw.connect("127.0.0.1", port)
    raw.loop_start()
    baseline = []
    for i in range(events):
        payload = json.dumps({"n": i, "pad": "x" * 250}).encode()
        start = time.perf_counter()
        raw.publish(baseline_topic, payload, qos=1)
        baseline.append(baseline_arrivals.wait(payload) - start)
        time.sleep(gap)
    raw.disconnect()
    raw.loop_stop()

    arrivals = Arrivals(port, f"bench/{NODE}/events")
    arrivals.key_of = lambda payload: (lambda m: f"{m['type']}:{m['event']['id']}".encode())(json.loads(payload))
    items = Arrivals(port, f"bench/{NODE}/reviews")
    items.key_of = lambda payload: (lambda m: f"{m['type']}:{m['item']['events'][0]}".encode())(json.loads(payload))
    _, sessions = open_database(tmp / "edge.db")
    manager = EventManager("porch", EventStore(sessions), NoMedia(), tmp, "m@1", deferred=True)
    manager.observer = publisher
    tracker = Tracker(TrackingSection(confirm_hits=2, end_after_s=0.5))
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    person = [Detection("person", 0.9, (0.1, 0.1, 0.3, 0.6))]
    t = 1_780_000_000.0
    latencies, item_latencies = [], []
    for _ in range(events):
        manager.handle(tracker.update(person, t), frame, t)  # the track's first hit: not confirmed yet
        t += 0.2
        start = time.perf_counter()
        manager.handle(tracker.update(person, t), frame, t)  # confirmed: the event opens
        (opened,) = [ev.row for ev in manager.open.values()]
        latencies.append(arrivals.wait(f"start:{opened.id}".encode()) - start)
        item_latencies.append(items.wait(f"new:{opened.id}".encode()) - start)
        t += 2.0
        manager.handle(tracker.update([], t), frame, t)  # ends (published outside the timing)
        arrivals.wait(f"end:{opened.id}".encode())
        t += GAP_S + 1.0
        manager.tick(t)  # nothing for the item's gap: it ends
        items.wait(f"end:{opened.id}".encode())
        manager.take_unsaved()
        time.sleep(gap)
    publisher.stop()

    print(f"MQTT latency, {events} events, Mosquitto on loopback (QoS 1)")
    report("baseline: paho publish → receive", baseline)
    report("detector result → event message received", latencies)
    report("detector result → review item 'new' received", item_latencies)
    for name, values in (("event", latencies), ("item", item_latencies)):
        met = percentile([v * 1000 for v in values], 95) <= 200
        print(f"goal ({name}): p95 ≤ 200 ms → {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
