"""What edges report applying of their configuration: checked, recorded, and queued for the cloud.

An edge calls ``EdgeConfig.Report`` after each apply (and once when it starts). The relay keeps the last
report per device as the ``guardian.cloud.v1.ConfigStatus`` the cloud gets, built here and only here
(:func:`config_status`): the device from the tunnel address, the versions, the refusal reason, per
camera its name, state and error, the edge's public sealing key, and the state of its connection to the
site's MQTT broker (with the error, for people). Nothing else of the report crosses,
and a ``ConfigReport`` has no credential to leak in the first place (those stay sealed in the desired
configuration, which never goes up).

Reports are durable like events: a row per device with a sequence number that grows with every report
and the sequence number the cloud acknowledged (:meth:`ConfigReports.mark_forwarded`). The forwarder
sends what is pending in its next ``IngestBatch.config_status``; a report arriving while that batch is
in flight stays pending and goes in the next one. The cloud keeps a device's latest reported state, so a
newer report replaces an unsent older one.

What the cloud's ingest would refuse (it refuses a batch as a whole) never goes up: such parts of a
report are left out here, and a report with versions out of range is refused (:class:`InvalidReport`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import func, select, update
from sqlalchemy.orm import sessionmaker

from agents.relay.db.tables import ConfigReportRow, utcnow
from agents.relay.errors import RelayError
from guardian.contracts.auth.keys import b64e  # the project's key text: base64url, no padding
from guardian.contracts.cloud.v1 import ingest_pb2
from guardian.contracts.edge.v1 import config_pb2

# What the cloud's ingest accepts (cloud/services/ingest.py): a batch with anything else is refused whole.
CAMERA_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")  # config.proto's rule for CameraConfig.name
CAMERA_STATES = ("applied", "failed", "removed")
MQTT_STATES = ("connected", "failing", "disabled")
MAX_CAMERAS = 64
MAX_VERSION = 2**31 - 1
MAX_STATUSES_PER_BATCH = 200
MAX_TEXT = 500  # refusal reasons and camera errors are for people; longer ones are cut
PUBLIC_KEY_BYTES = 32  # X25519


class InvalidReport(RelayError):
    """A ConfigReport the relay does not record or forward; ``reason`` says why (for the edge's log)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def key_id_of(public_key: bytes) -> str:
    """A config key's id: the first 16 hex digits of the SHA-256 of the public key (config.proto)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def config_status(device_id: str, report: config_pb2.ConfigReport) -> tuple[ingest_pb2.ConfigStatus, list[str]]:
    """The only view of a ConfigReport the cloud gets, and what of the report was left out (for the log).

    ``device_id`` is the one the tunnel address names. Parts the cloud would refuse are left out rather
    than the whole report, so an edge's slip neither stalls forwarding nor cuts the edge off its configs
    (it reports before it watches): cameras with a name or state outside the contract, a key that is not
    32 bytes or not its id. Raises :class:`InvalidReport` only for versions no cloud ever numbered."""
    if report.applied_version > MAX_VERSION or report.refused_version > MAX_VERSION:
        raise InvalidReport("version out of range")
    left_out: list[str] = []
    status = ingest_pb2.ConfigStatus(
        device_id=device_id,
        applied_version=report.applied_version,
        refused_version=report.refused_version,
        refused_reason=_cut(report.refused_reason),
    )
    for camera in report.cameras:
        if len(status.cameras) == MAX_CAMERAS:
            left_out.append(f"cameras beyond {MAX_CAMERAS}")
            break
        if not CAMERA_NAME.match(camera.camera) or camera.state not in CAMERA_STATES:
            left_out.append("a camera whose name or state is not the contract's")
            continue
        status.cameras.add(camera=camera.camera, state=camera.state, error=_cut(camera.error))
    now = utcnow()
    at = report.at.ToDatetime(tzinfo=UTC) if report.HasField("at") else now
    status.at.FromDatetime(min(at, now))  # an edge's clock may run ahead; no report comes from the future
    if report.HasField("mqtt"):
        if report.mqtt.state not in MQTT_STATES:
            left_out.append("an MQTT state that is not the contract's")
        else:
            status.mqtt.state, status.mqtt.error = report.mqtt.state, _cut(report.mqtt.error)
    if report.HasField("config_key"):
        key = report.config_key
        if len(key.public_key) != PUBLIC_KEY_BYTES or key.key_id != key_id_of(key.public_key):
            left_out.append("a config key that is not 32 bytes or not its key_id")
        else:
            status.config_key_id, status.config_public_key = key.key_id, b64e(key.public_key)
    return status, left_out


@dataclass(frozen=True)
class PendingStatus:
    device_id: str
    seq: int
    status: ingest_pb2.ConfigStatus


class ConfigReports:
    """The last report of each device and whether the cloud has it, in the relay DB."""

    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    def record(self, device_id: str, report: config_pb2.ConfigReport) -> list[str]:
        """Keep ``report`` as the device's reported state, pending for the cloud; returns what of it was left
        out (:func:`config_status`). Raises :class:`InvalidReport`."""
        built, left_out = config_status(device_id, report)
        status = built.SerializeToString(deterministic=True)
        with self.sessions.begin() as session:
            row = session.get(ConfigReportRow, device_id)
            if row is None:
                session.add(ConfigReportRow(device_id=device_id, applied_version=report.applied_version,
                                            status=status, reported_at=utcnow(), seq=1, forwarded_seq=0))
            else:
                row.applied_version, row.status, row.reported_at = report.applied_version, status, utcnow()
                row.seq += 1
        return left_out

    def pending(self, limit: int) -> list[PendingStatus]:
        with self.sessions() as session:
            rows = session.scalars(
                select(ConfigReportRow)
                .where(ConfigReportRow.seq != ConfigReportRow.forwarded_seq)
                .order_by(ConfigReportRow.reported_at)
                .limit(limit)
            )
            return [PendingStatus(r.device_id, r.seq, ingest_pb2.ConfigStatus.FromString(r.status)) for r in rows]

    def mark_forwarded(self, sent: list[PendingStatus]) -> None:
        """The cloud acknowledged ``sent``: the sequence numbers sent are forwarded; a report that came in
        meanwhile has a higher one and stays pending."""
        if not sent:
            return
        with self.sessions.begin() as session:
            for item in sent:
                session.execute(
                    update(ConfigReportRow)
                    .where(ConfigReportRow.device_id == item.device_id)
                    .values(forwarded_seq=item.seq)
                )

    def pending_count(self) -> int:
        with self.sessions() as session:
            query = select(func.count()).where(ConfigReportRow.seq != ConfigReportRow.forwarded_seq)
            return int(session.scalar(query) or 0)
