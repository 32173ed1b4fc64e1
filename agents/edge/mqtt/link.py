"""What the detection service holds: the event observer it gives every camera's event manager, which
forwards to the publisher of the applied ``mqtt`` config — started, restarted or stopped as the applied
config changes (:meth:`MqttLink.refresh`, called with the cameras' hot reload) — or to nothing while MQTT
is off. It records the connection's state when it changes (``camera_config.mqtt_status``: disabled,
connected, failing and why), which the uplink reports to the cloud with the config."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from agents.common.sqlite import WriterSession
from agents.edge.camera_config import mqtt_status
from agents.edge.camera_config.cameras import KeySource
from agents.edge.db.tables import Camera, EventRow
from agents.edge.events.observer import ItemPhase, Phase
from agents.edge.events.review_items import OpenItem
from agents.edge.mqtt.messages import CameraInfo
from agents.edge.mqtt.metrics import MqttMetrics
from agents.edge.mqtt.publisher import MqttPublisher
from agents.edge.mqtt.settings import BrokerSettings, MqttConfigError, applied_desired, broker_settings
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.edge.mqtt")


def camera_infos(sessions: sessionmaker[WriterSession], default_labels: Iterable[str]) -> dict[str, CameraInfo]:
    """The enabled cameras, each with the labels it reports (its own selection, else the edge's default)."""
    defaults = tuple(sorted(default_labels))
    infos = {}
    with sessions() as session:
        for row in session.scalars(select(Camera).where(Camera.enabled.is_(True)).order_by(Camera.name)):
            if row.config_state in ("failed", "removed"):
                continue
            labels = defaults
            if row.detection_json:
                # A damaged row: the detector says so for this camera; here its default sensors will do.
                with contextlib.suppress(ValueError, AttributeError):
                    labels = tuple(json.loads(row.detection_json).get("labels") or defaults)
            infos[row.name] = CameraInfo(row.name, row.display_name or "", labels)
    return infos


class MqttLink:
    def __init__(self, sessions: sessionmaker[WriterSession], keys: KeySource, default_labels: Iterable[str],
                 metrics: AgentMetrics) -> None:
        self.sessions = sessions
        self.keys = keys
        self.default_labels = tuple(default_labels)
        self.metrics = MqttMetrics.on(metrics)
        self.publisher: MqttPublisher | None = None
        self._payload: bytes | None = None  # the applied config the publisher was made from
        self._broker: BrokerSettings | None = None
        self._cameras: dict[str, CameraInfo] = {}
        self._lock = threading.Lock()  # refresh() and close() from different threads
        self._closed = False  # a camera reload still running at stop must not start a publisher again
        self._refreshed = False  # the first refresh says "disabled" too (no broker set is news for the cloud)

    def event_changed(self, phase: Phase, row: EventRow, snapshot: Path | None) -> None:
        publisher = self.publisher
        if publisher is not None:
            publisher.event_changed(phase, row, snapshot)

    def item_changed(self, phase: ItemPhase, camera: str, item: OpenItem) -> None:
        publisher = self.publisher
        if publisher is not None:
            publisher.item_changed(phase, camera, item)

    def refresh(self) -> None:
        """Follow the applied config: start, restart (other broker settings) or stop the publisher, and
        hand it the cameras when they changed. A password that cannot be opened leaves MQTT off (said once)."""
        with self._lock:
            if self._closed:
                return
            payload = applied_desired(self.sessions)
            if payload != self._payload or not self._refreshed:
                self._refreshed = True
                self._payload = payload
                desired = config_pb2.DesiredConfig.FromString(payload) if payload is not None else None
                problem = None
                try:
                    broker = broker_settings(desired.mqtt, desired.device_id, self.keys) if desired else None
                except MqttConfigError as exc:
                    log.error("mqtt_not_started", reason=exc.reason)
                    broker, problem = None, exc.reason
                if broker != self._broker or problem is not None:
                    stopped = self._stop()
                    self._broker = broker
                    if broker is not None:
                        self._cameras = camera_infos(self.sessions, self.default_labels)
                        # The items still open go on with the new publisher: it must not end them as leftovers.
                        carried = stopped.open_items() if stopped is not None else {}
                        try:
                            self.publisher = MqttPublisher(broker, self._cameras, self.metrics, on_status=self._record,
                                                           open_items=carried)
                            self.publisher.start()
                        except (OSError, ValueError) as exc:  # TLS set-up: MQTT stays off, detection goes on
                            self.publisher = None
                            log.error("mqtt_not_started", reason=str(exc))
                            problem = f"TLS set-up failed: {exc}"
                if self.publisher is None:
                    self._record("failing" if problem else "disabled", problem or "")
            if self.publisher is not None:
                cameras = camera_infos(self.sessions, self.default_labels)
                if cameras != self._cameras:
                    self._cameras = cameras
                    self.publisher.set_cameras(cameras)

    def _record(self, state: str, error: str) -> None:
        """The connection's state for the config report (written only when it differs from the stored one)."""
        mqtt_status.save(self.sessions, state, error)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop()

    def _stop(self) -> MqttPublisher | None:
        """Stop the publisher, if any; the one stopped."""
        publisher, self.publisher = self.publisher, None
        if publisher is not None:
            publisher.stop()
        return publisher
