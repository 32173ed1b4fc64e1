"""What the event manager tells listeners outside the database (the LAN's MQTT broker): an event started,
changed or ended. A listener is called on the detector's event thread and must return at once and never
raise (it hands the news to a thread of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from agents.edge.db.tables import EventRow

Phase = Literal["start", "update", "end"]


class EventObserver(Protocol):
    def event_changed(self, phase: Phase, row: EventRow, snapshot: Path | None) -> None:
        """``row`` as it stands now (read it before returning: the manager changes it later);
        ``snapshot``: the JPEG written when the event ended, if any."""
