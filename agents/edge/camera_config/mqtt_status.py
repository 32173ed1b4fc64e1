"""The edge's connection to the site's MQTT broker as the config report carries it up (issue #20): the
detector's MQTT link writes it when it changes (:func:`save`, one row), the uplink reads it into each
``ConfigReport`` (:func:`read`) and reports again when it changed. The error is for people and never holds
a secret (the publisher words it: a refused certificate, a refused login, no answer)."""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from agents.common.sqlite import WriterSession
from agents.edge.db.tables import MqttStatusRow, utcnow
from guardian.contracts.edge.v1 import config_pb2

STATES = ("connected", "failing", "disabled")
MAX_ERROR = 500
_ROW = 1


def save(sessions: sessionmaker[WriterSession], state: str, error: str = "") -> None:
    if state not in STATES:
        raise ValueError(f"unknown MQTT state {state!r}")
    error = error if len(error) <= MAX_ERROR else error[: MAX_ERROR - 1] + "…"
    with sessions.begin() as session:
        row = session.get(MqttStatusRow, _ROW)
        if row is None:
            session.add(MqttStatusRow(id=_ROW, state=state, error=error, changed_at=utcnow()))
        elif (row.state, row.error) != (state, error):
            row.state, row.error, row.changed_at = state, error, utcnow()


def read(sessions: sessionmaker[WriterSession]) -> config_pb2.MqttStatus | None:
    """None until the detector has said anything."""
    with sessions() as session:
        row = session.get(MqttStatusRow, _ROW)
        return None if row is None else config_pb2.MqttStatus(state=row.state, error=row.error)
