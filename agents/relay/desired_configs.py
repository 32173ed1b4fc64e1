"""The relay's cache of desired configurations: the newest version per enrolled device, and who waits for it.

The cloud keeps each device's desired configuration as numbered versions (``guardian.edge.v1``
``DesiredConfig``); :mod:`agents.relay.config_pull` copies the newest ones here, with the cloud's feed
cursor, in one transaction. Edges get them from :mod:`agents.relay.edge_config` (``EdgeConfig.Watch``),
so an edge restarted while the cloud is down still gets its last configuration.

Rules: only devices enrolled here and not revoked are kept; a version is stored only when it is newer
than the one held (versions only grow, so a repeated or reordered answer changes nothing). The payload
is the serialized proto as the cloud sent it; camera credentials in it are sealed to the edge's own key
(``SealedSecret``) and this module never looks inside. A device enrolled after the feed position was
stored may have been skipped then, so the next pull asks for every device again (:meth:`cursor`).

:class:`ConfigChanges` wakes the Watch streams of a device when a newer version was stored: one
:class:`asyncio.Event` per stream, set by the pull, so no stream polls the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agents.relay.db.tables import ConfigFeed, DesiredConfigRow, Device, utcnow
from guardian.contracts.edge.v1 import config_pb2

_FEED_ROW = 1


@dataclass(frozen=True)
class Stored:
    """What one pull changed: the (device, version) pairs stored, and what was left out."""

    versions: list[tuple[str, int]] = field(default_factory=list)
    not_enrolled: int = 0  # configs of devices not enrolled here (or revoked)
    not_newer: int = 0  # versions not newer than the one held


class DesiredConfigs:
    """The newest desired configuration per enrolled device, and the cloud feed's cursor, in the relay DB."""

    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    def newest(self, device_id: str) -> config_pb2.DesiredConfig | None:
        with self.sessions() as session:
            row = session.get(DesiredConfigRow, device_id)
            return None if row is None else config_pb2.DesiredConfig.FromString(row.payload)

    def cursor(self) -> str | None:
        """The cursor to pass to the cloud next; None: ask for every device's newest version."""
        with self.sessions() as session:
            feed = session.get(ConfigFeed, _FEED_ROW)
            if feed is None:
                return None
            return None if self._enrolled_since(session, feed.stored_at) else feed.cursor

    @staticmethod
    def _enrolled_since(session: Session, when: datetime) -> bool:
        query = select(Device.device_id).where(Device.revoked_at.is_(None), Device.enrolled_at > when).limit(1)
        return session.scalars(query).first() is not None

    def store(self, configs: Iterable[config_pb2.DesiredConfig], cursor: str) -> Stored:
        """Keep the configs that are newer than what is held, for devices enrolled here, and the cursor; one
        write transaction, so a restart never finds a cursor past configs that were not stored."""
        newest: dict[str, config_pb2.DesiredConfig] = {}
        for config in configs:
            held = newest.get(config.device_id)
            if held is None or config.version > held.version:
                newest[config.device_id] = config
        stored: list[tuple[str, int]] = []
        not_enrolled = not_newer = 0
        with self.sessions.begin() as session:
            enrolled = set(session.scalars(
                select(Device.device_id).where(Device.revoked_at.is_(None), Device.device_id.in_(list(newest)))
            ))
            held_rows = {row.device_id: row for row in session.scalars(
                select(DesiredConfigRow).where(DesiredConfigRow.device_id.in_(list(enrolled)))
            )}
            now = utcnow()
            for device_id, config in sorted(newest.items()):
                if device_id not in enrolled:
                    not_enrolled += 1
                    continue
                row = held_rows.get(device_id)
                if row is not None and config.version <= row.version:
                    not_newer += 1
                    continue
                payload = config.SerializeToString(deterministic=True)
                if row is None:
                    session.add(DesiredConfigRow(device_id=device_id, version=config.version, payload=payload,
                                                 received_at=now))
                else:
                    row.version, row.payload, row.received_at = config.version, payload, now
                stored.append((device_id, config.version))
            feed = session.get(ConfigFeed, _FEED_ROW)
            if feed is None:
                session.add(ConfigFeed(id=_FEED_ROW, cursor=cursor, stored_at=now))
            else:
                feed.cursor, feed.stored_at = cursor, now
        return Stored(stored, not_enrolled, not_newer)

    def cached_count(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(DesiredConfigRow)) or 0)


class ConfigChanges:
    """Wakes the Watch streams of a device when something about its configuration changed (a newer version
    stored, the device revoked). Used from the event loop's thread only."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def subscribe(self, device_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.setdefault(device_id, set()).add(event)
        return event

    def unsubscribe(self, device_id: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(device_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[device_id]

    def notify(self, device_ids: Iterable[str]) -> None:
        for device_id in device_ids:
            for event in self._waiters.get(device_id, ()):
                event.set()

    def watching(self, device_id: str) -> int:
        return len(self._waiters.get(device_id, ()))
