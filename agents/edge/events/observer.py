"""What the event manager tells listeners outside the database (the LAN's MQTT broker): an event started,
changed or ended, and a review item was made, changed or ended. A listener is called on the detector's
event thread and must return at once and never raise (it hands the news to a thread of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from agents.edge.db.tables import EventRow
from agents.edge.events.review_items import OpenItem

Phase = Literal["start", "update", "end"]
ItemPhase = Literal["new", "update", "end"]


class EventObserver(Protocol):
    def event_changed(self, phase: Phase, row: EventRow, snapshot: Path | None) -> None:
        """``row`` as it stands now (read it before returning: the manager changes it later);
        ``snapshot``: the JPEG written when the event ended, if any."""

    def item_changed(self, phase: ItemPhase, camera: str, item: OpenItem) -> None:
        """``item`` of ``camera`` as it stands now (read it before returning): ``new`` once, ``update``
        when its events, labels, zones or severity changed, ``end`` once (it never changes after)."""
