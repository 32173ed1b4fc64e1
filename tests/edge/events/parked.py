"""A van that stands still then drives off, through the real tracker and event manager (issue #20); the edge and
cloud tests of what a move tells the owner share it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from agents.edge.db import open_database
from agents.edge.db.tables import EventRow
from agents.edge.events.manager import EventManager
from agents.edge.events.store import EventStore
from agents.edge.tracking.tracker import Tracker
from agents.edge.tracking.types import Detection

FPS = 5
PARKED_S = 60.0  # the van stands still from 0 s (already there when the detector starts)...
GONE_S = 70.0  # ...drives off at 60 s, out of sight at 70 s
_FRAME = np.zeros((48, 64, 3), np.uint8)


def van(t: float, hidden: tuple[float, float] = (0.0, 0.0)) -> list[Detection]:
    """The detector's boxes at ``t`` s: the van parked, then driving off to the right; during ``hidden`` a
    passer-by hides its left half (its box shrinks to the right half: its standing point shifts)."""
    if t >= GONE_S:
        return []
    x = 0.3 + 0.04 * max(0.0, t - PARKED_S)
    left = x + 0.1 if hidden[0] <= t < hidden[1] else x
    return [Detection("car", 0.8, (left, 0.5, x + 0.2, 0.8))]


class Told:
    """What the event manager tells its observer (the MQTT publisher's side): events and review items."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []  # phase, event id, its item
        self.items: list[tuple[str, str, tuple[str, ...]]] = []  # phase, item id, its event ids
        self.now = 0.0  # the time of the frame being handled
        self.ended_at: dict[str, float] = {}  # item id → the time it was told ended

    def event_changed(self, phase: str, row: EventRow, snapshot: Path | None) -> None:
        self.events.append((phase, row.id, row.review_item or ""))

    def item_changed(self, phase: str, camera: str, item) -> None:
        self.items.append((phase, item.id, tuple(item.event_ids)))
        if phase == "end":
            self.ended_at[item.id] = self.now


class _NoMedia:
    def snapshot(self, frame, box, snapshot, thumbnail) -> None:
        pass

    def clip(self, camera, start, end, target, partial_ok=False):
        return None


def run(tmp_path: Path, t0: float, scene: Callable[[float], list[Detection]] = van,
        at: Callable[[float, Sequence[EventRow]], None] | None = None) -> tuple[list[EventRow], Told]:
    """``scene`` from ``t0`` (unix time) for 80 s through the real tracker and event manager, ticking after
    each frame as the event thread does; ``at(t, rows)`` is called with the stored rows every second. The
    stored rows at the end (oldest first) and what the observer was told."""
    engine, sessions = open_database(tmp_path / "edge.db")
    try:
        store = EventStore(sessions)
        manager = EventManager("drive", store, _NoMedia(), tmp_path, "m@1")
        manager.observer = told = Told()
        tracker = Tracker()
        for i in range(80 * FPS):
            t = i / FPS
            told.now = t0 + t
            manager.handle(tracker.update(scene(t), t0 + t), _FRAME, t0 + t)
            manager.tick(t0 + t)
            if at is not None and i % FPS == 0:
                at(t, store.query(camera="drive"))
        told.now = t0 + 80
        manager.shutdown(tracker.flush(), t0 + 80)
        rows = sorted(store.query(camera="drive"), key=lambda r: r.start_at)
    finally:
        engine.dispose()
    return rows, told
