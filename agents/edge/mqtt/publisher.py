"""One broker connection and the thread that feeds it.

The detector's event thread only builds an :class:`EventNotice` (or an :class:`ItemNotice`, a review
item's) and puts it on a bounded queue
(``put_nowait``: a full queue drops the notice and counts it); everything else — occupancy, payloads,
reading the snapshot, publishing — happens on the publisher's own thread, so a slow or absent broker
never holds detection up and no error of it reaches the pipeline. paho's network thread connects and
reconnects with backoff (1 s up to :data:`MAX_BACKOFF_S`); on every connect the availability,
discovery and the retained states are published again (a broker restarted without persistence has
forgotten them). While the broker is away the retained states stay current in memory and the event
messages are dropped (counted). A connection that fails (a refused certificate, a wrong password, no
answer) is said once per new reason, counted by reason, and kept in :attr:`MqttPublisher.last_error`;
``on_status`` hears of each change (connected, or failing with a new reason), not of every retry.

A review item's ``end`` must not be lost, or Home Assistant shows it going on forever. While an item is open
its ``reviews/open/<id>`` message is retained on the broker; its end clears it. A detector killed mid-item
leaves the retained message behind: every connection subscribes to ``reviews/open/+`` until the broker has
handed over what it holds (a marker published right after the subscription comes back after it), and an item
held open there that this publisher neither has open nor has ended (an earlier run's) gets its ``end`` from
that message, once, and is cleared. An end made while the broker is away is sent once that marker is back:
after what paho sends again of what was in flight when the connection broke (an older open copy among it).
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from agents.edge.db.tables import EventRow
from agents.edge.events.observer import ItemPhase, Phase
from agents.edge.events.review_items import OpenItem
from agents.edge.mqtt.messages import (
    OFFLINE,
    ONLINE,
    CameraInfo,
    EventNotice,
    ItemNotice,
    Message,
    Topics,
    discovery_messages,
    event_message,
    leftover_end_message,
    occupancy_messages,
    open_item_message,
    review_message,
)
from agents.edge.mqtt.metrics import MqttMetrics
from agents.edge.mqtt.settings import BrokerSettings
from agents.edge.mqtt.tls import failure, tls_context
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.mqtt")

QUEUE_SIZE = 1000
KEEPALIVE_S = 30
MAX_BACKOFF_S = 30
STOP_WAIT_S = 2.0  # how long a stop waits for "offline" to reach the broker
ENDED_KEPT = 256  # ended items remembered, so that a copy of one the broker still delivers is not ended twice
_STOP = object()


class MqttPublisher:
    def __init__(self, broker: BrokerSettings, cameras: Mapping[str, CameraInfo], metrics: MqttMetrics,
                 queue_size: int = QUEUE_SIZE, on_status: Callable[[str, str], None] | None = None,
                 open_items: Mapping[str, Message] | None = None) -> None:
        """``open_items``: the items a previous publisher of this process had open (:meth:`open_items`), which
        go on here (a config change restarted the publisher mid-item)."""
        self.broker = broker
        # Told ("connected", "") or ("failing", why) on paho's thread when the connection's state changes.
        self.on_status = on_status
        self.topics = Topics(broker)
        self.metrics = metrics
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._cameras: dict[str, CameraInfo] = dict(cameras)
        self._open: dict[str, dict[str, str]] = {}  # camera → open event id → label
        # Topic → payload of every retained message, in the order first published (discovery before states).
        self._retained: dict[str, bytes] = {}
        # Review items: open (id → its retained message), ended lately, and ended while the broker was away.
        self._open_items: dict[str, Message] = dict(open_items or {})
        self._ended: dict[str, None] = {}
        self._unsent_ends: dict[str, Message] = {}
        self._marker = ""  # this connection's topic under reviews/open/ that says the broker has handed all over
        self.caught_up = threading.Event()  # set once a connection has ended the broker's leftovers
        # _retained, _connected and the items above: the worker and paho's thread share them.
        self._lock = threading.Lock()
        self._connected = False
        self._stopping = False  # a disconnect from here on is ours
        self._online = threading.Event()  # set while connected (for whoever must wait for it)
        self._last_error: str | None = None  # why the last connection failed; None once connected
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{broker.node_id}-events",
                                  clean_session=True)
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password or None)
        if broker.tls:  # raises ssl.SSLError (an OSError) for a CA PEM without a usable certificate
            self.client.tls_set_context(tls_context(broker.ca_pem))
        self.client.will_set(self.topics.availability, OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=MAX_BACKOFF_S)
        self.client.max_queued_messages_set(QUEUE_SIZE)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.message_callback_add(self.topics.open_items, self._on_open_item)
        for camera in list(self._cameras.values()):
            for message in self._add_camera(camera):
                self._retained[message.topic] = message.payload  # published on connect
        for message in self._open_items.values():
            self._retained[message.topic] = message.payload

    # -- the pipeline's side: never blocks, never raises -------------------------------------------
    def event_changed(self, phase: Phase, row: EventRow, snapshot: Path | None) -> None:
        try:
            notice = EventNotice(
                phase=phase, event_id=row.id, camera=row.camera, label=row.label,
                zones=tuple(json.loads(row.zones_json or "[]")), start=row.start_at, end=row.end_at,
                severity=getattr(row, "severity", None) or None, snapshot=str(snapshot) if snapshot else None,
            )
            self._queue.put_nowait(notice)
        except queue.Full:
            self.metrics.dropped.labels("queue_full").inc()
        except Exception as exc:  # a bad row must not reach detection; said and counted
            self.metrics.dropped.labels("error").inc()
            log.warning("mqtt_notice_failed", camera=row.camera, error=str(exc))

    def item_changed(self, phase: ItemPhase, camera: str, item: OpenItem) -> None:
        try:
            notice = ItemNotice(
                phase=phase, item_id=item.id, camera=camera, start=datetime.fromtimestamp(item.start, UTC),
                end=datetime.fromtimestamp(item.end, UTC) if phase == "end" else None, labels=tuple(item.labels),
                zones=tuple(item.zones), severity=item.severity, event_ids=tuple(item.event_ids),
                active_until=datetime.fromtimestamp(item.end, UTC),
            )
            self._queue.put_nowait(notice)
        except queue.Full:
            self.metrics.dropped.labels("queue_full").inc()
        except Exception as exc:  # never reaches detection; said and counted
            self.metrics.dropped.labels("error").inc()
            log.warning("mqtt_notice_failed", camera=camera, error=str(exc))

    def set_cameras(self, cameras: Mapping[str, CameraInfo]) -> None:
        """The cameras changed (added, renamed, other labels): their discovery follows."""
        try:
            self._queue.put_nowait(dict(cameras))
        except queue.Full:
            self.metrics.dropped.labels("queue_full").inc()

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        # Connects in paho's thread, retrying with backoff until the broker answers (never raises here).
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        self.client.loop_start()
        log.info("mqtt_started", host=self.broker.host, port=self.broker.port, tls=self.broker.tls,
                 node=self.broker.node_id)

    def stop(self) -> None:
        """Publish what is queued, then ``offline``, and disconnect (a clean disconnect discards the will)."""
        self._stopping = True
        # A worker stuck behind a full queue is not waited for: the stop goes on without draining it.
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=STOP_WAIT_S)
        self._thread.join(timeout=STOP_WAIT_S)
        if self.connected:
            info = self.client.publish(self.topics.availability, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=STOP_WAIT_S)
            except (RuntimeError, ValueError) as exc:
                log.warning("mqtt_offline_not_sent", error=str(exc))
        self.client.disconnect()
        self.client.loop_stop()
        self.metrics.connected.set(0)
        log.info("mqtt_stopped", node=self.broker.node_id)

    def open_items(self) -> dict[str, Message]:
        """The review items open here (for the publisher that replaces this one)."""
        with self._lock:
            return dict(self._open_items)

    def wait_connected(self, timeout: float) -> bool:
        """Whether the broker accepted the connection within ``timeout`` seconds."""
        return self._online.wait(timeout)

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    @property
    def last_error(self) -> str | None:
        """Why the last connection attempt failed (for people); None once connected."""
        with self._lock:
            return self._last_error

    def _failed(self, reason: str, text: str) -> None:
        self.metrics.connect_failures.labels(reason).inc()
        with self._lock:
            repeated, self._last_error = self._last_error == text, text
        if not repeated:  # paho retries every few seconds: say it once per new reason
            log.error("mqtt_connect_failed", host=self.broker.host, port=self.broker.port, reason=reason, error=text)
            self._tell("failing", text)

    def _tell(self, state: str, error: str) -> None:
        if self.on_status is None:
            return
        try:
            self.on_status(state, error)
        except Exception as exc:  # paho's thread goes on: a status not recorded is said, not raised
            log.warning("mqtt_status_not_recorded", error=str(exc))

    # -- paho's network thread ---------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any) -> None:
        if reason.is_failure:
            self._failed("refused", f"the broker refused the connection: {reason}")
            return
        with self._lock:
            self._connected = True
            self._last_error = None
            retained = list(self._retained.items())
            self._remember_ended(self._unsent_ends)  # sent with the marker; their stale copies are not leftovers
            self._marker = self.topics.open_item(f"marker-{uuid.uuid4().hex}")
            marker = self._marker
        # The broker answers with the items it holds open; an earlier run's are ended (_on_open_item), until
        # the marker comes back. First: whoever sees this connection's "online" knows they were handed over.
        client.subscribe(self.topics.open_items, qos=1)
        client.publish(marker, b"marker", qos=1)
        self.metrics.connected.set(1)
        self.metrics.connects.inc()
        self._online.set()
        log.info("mqtt_connected", host=self.broker.host, retained=len(retained))
        self._tell("connected", "")
        self._publish(Message(self.topics.availability, ONLINE, retain=True))
        for topic, payload in retained:
            self._publish(Message(topic, payload, retain=True))

    def _on_open_item(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        """What the broker holds open (while subscribed): an earlier run's item is ended and cleared; ours
        (open, or ended) are left alone. The marker ends the subscription."""
        if message.topic == self._marker:
            self._caught_up(client)
            return
        if not message.payload:
            return
        item_id = message.topic.rsplit("/", 1)[-1]
        with self._lock:
            if item_id in self._open_items or item_id in self._ended:
                return
            self._remember_ended([item_id])
        end = leftover_end_message(self.topics, item_id, bytes(message.payload))
        if end is not None:
            self._send(end)
        self._send(Message(message.topic, b"", retain=True))
        log.info("mqtt_leftover_item_ended", item_id=item_id, readable=end is not None)

    def _caught_up(self, client: mqtt.Client) -> None:
        """The broker has handed over what it held: the ends made while it was away follow (their clears land
        after any older copy paho sent again), and the subscription ends (our own messages need not come back)."""
        client.unsubscribe(self.topics.open_items)
        with self._lock:
            unsent, self._unsent_ends = self._unsent_ends, {}
        for item_id, end in unsent.items():
            self._send(end)
            self._send(Message(self.topics.open_item(item_id), b"", retain=True))
        self.caught_up.set()

    def _remember_ended(self, item_ids: Iterable[str]) -> None:
        """(under the lock)"""
        self._ended.update(dict.fromkeys(item_ids))
        while len(self._ended) > ENDED_KEPT:
            del self._ended[next(iter(self._ended))]

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho 2 calls this inside its ``except OSError`` and does not pass the error: it is the one handled.
        reason, text = failure(sys.exc_info()[1])
        self._failed(reason, text)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any) -> None:
        with self._lock:
            was, self._connected = self._connected, False
        self._online.clear()
        self.metrics.connected.set(0)
        if was and not self._stopping:
            log.warning("mqtt_disconnected", host=self.broker.host, reason=str(reason))

    # -- the publisher's thread --------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                if isinstance(item, EventNotice):
                    self._handle(item)
                elif isinstance(item, ItemNotice):
                    self._review(item)
                elif isinstance(item, dict):
                    self._change_cameras(item)
            except Exception as exc:  # never ends the thread: the next notice is handled as usual
                self.metrics.dropped.labels("error").inc()
                log.warning("mqtt_publish_failed", error=str(exc))

    def _handle(self, notice: EventNotice) -> None:
        camera = self._cameras.get(notice.camera)
        opened = self._open.setdefault(notice.camera, {})
        messages = [event_message(self.topics, notice, camera)]
        # An update of an event not known here (opened before a config change restarted the publisher) counts too.
        changed = notice.phase == "end" or notice.event_id not in opened
        if notice.phase != "end" and notice.event_id not in opened:
            if camera is not None and notice.label not in camera.labels:
                # A label the camera's list did not name: its sensors appear now.
                camera = CameraInfo(camera.name, camera.display_name, (*camera.labels, notice.label))
                messages[:0] = self._add_camera(camera)
            opened[notice.event_id] = notice.label
        elif notice.phase == "end":
            opened.pop(notice.event_id, None)
        if changed:
            counts: dict[str, int] = {}
            for label in opened.values():
                counts[label] = counts.get(label, 0) + 1
            messages += occupancy_messages(self.topics, notice.camera, notice.label, counts)
        if notice.phase == "end" and notice.snapshot is not None:
            try:
                messages.append(Message(self.topics.snapshot(notice.camera), Path(notice.snapshot).read_bytes(),
                                        retain=True))
            except OSError as exc:
                log.warning("mqtt_snapshot_unreadable", camera=notice.camera, error=str(exc))
        for message in messages:
            self._send(message)

    def _review(self, notice: ItemNotice) -> None:
        """The item's message, and its retained open copy kept (new, update) or cleared (end). The copy goes
        first and the clear last: whoever heard of an item, a later run can end it (at worst twice)."""
        camera = self._cameras.get(notice.camera)
        message = review_message(self.topics, notice, camera)
        if notice.phase != "end":
            opened = open_item_message(self.topics, notice, camera)
            with self._lock:
                self._open_items[notice.item_id] = opened
            self._send(opened)
            self._send(message)
            return
        with self._lock:
            self._open_items.pop(notice.item_id, None)
            connected = self._connected
            if connected:
                self._remember_ended([notice.item_id])
            else:  # sent on the next connect
                self._unsent_ends[notice.item_id] = message
                while len(self._unsent_ends) > QUEUE_SIZE:
                    del self._unsent_ends[next(iter(self._unsent_ends))]
                    self.metrics.dropped.labels("disconnected").inc()
        if connected:
            self._send(message)
        self._send(Message(self.topics.open_item(notice.item_id), b"", retain=True))

    def _change_cameras(self, cameras: dict[str, CameraInfo]) -> None:
        for name in set(self._cameras) - set(cameras):
            # Gone: an empty retained config removes its entities from Home Assistant.
            gone = self._cameras.pop(name)
            if self.broker.discovery:
                for message in discovery_messages(self.topics, gone, gone.labels):
                    self._send(Message(message.topic, b"", retain=True))
        for camera in cameras.values():
            if self._cameras.get(camera.name) != camera:
                for message in self._add_camera(camera):
                    self._send(message)

    def _add_camera(self, camera: CameraInfo) -> list[Message]:
        """The camera's discovery, and idle states for the labels (and its occupancy) that have none yet: a
        detector killed while someone was in view left them "on" on the broker."""
        self._cameras[camera.name] = camera
        messages = discovery_messages(self.topics, camera, camera.labels) if self.broker.discovery else []
        with self._lock:
            known = set(self._retained)
        for label in camera.labels:
            messages += [m for m in occupancy_messages(self.topics, camera.name, label, {}) if m.topic not in known]
            known.update(m.topic for m in messages)
        return messages

    def _send(self, message: Message) -> None:
        with self._lock:
            if message.retain:
                if message.payload:
                    self._retained[message.topic] = message.payload
                else:
                    self._retained.pop(message.topic, None)
            connected = self._connected
        if not connected:
            if not message.retain:
                self.metrics.dropped.labels("disconnected").inc()
            return  # a retained one goes out with the others on the next connect
        self._publish(message)

    def _publish(self, message: Message) -> None:
        info = self.client.publish(message.topic, message.payload, qos=1, retain=message.retain)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.metrics.published.inc()
        elif info.rc == mqtt.MQTT_ERR_NO_CONN:
            self.metrics.dropped.labels("disconnected").inc()
        else:
            self.metrics.dropped.labels("error").inc()
            log.warning("mqtt_publish_refused", topic_kind=message.topic.rsplit("/", 1)[-1], rc=info.rc)
