"""Review items: a camera's overlapping events grouped into one thing to review (issue #20).

A person walking past makes one event per track, and a busy minute makes twenty rows; what an owner
reviews is "activity on the campus camera from 10:04:12 to 10:04:51: people, a car, in the driveway".
:func:`group` joins a camera's events whose *active spans* overlap or follow within ``gap_s`` into one
:class:`ReviewItem` (start, end, labels, zones, severity — an alert if any of its events is — and the event
whose snapshot is the best, the highest scoring), at most ``max_item_s`` long.

Stationary objects do not keep an item open: an object whose standing point (the bottom-centre of its box)
stays within ``still_shift`` of where it was first seen is active only for its first ``still_active_s``
(a parked vehicle makes one item, then nothing) and again from the moment it has moved (it drives off).

Pure functions over the events' stored rows (times, labels, zones, severity, track); nothing here leaves
the edge that the event summaries do not already carry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agents.edge.db.tables import EventRow

# Defaults measured on the demo footage (bench/detection_events.py --items).
GAP_S = 5.0  # events this close in time are one activity
MAX_ITEM_S = 120.0  # a busy scene is cut into items of at most this long
STILL_SHIFT = 0.03  # fraction of the picture: a standing point closer than this to its first has not moved
STILL_ACTIVE_S = 5.0  # how long a stationary object counts as activity after it appeared


@dataclass(frozen=True)
class Span:
    """When one event's object was active (moving, or just arrived), with what the item needs of it."""

    event_id: str
    label: str
    start: float
    end: float
    zones: tuple[str, ...]
    severity: str
    score: float


@dataclass
class ReviewItem:
    start: float
    end: float
    event_ids: list[str] = field(default_factory=list)
    labels: dict[str, None] = field(default_factory=dict)  # in the order seen
    zones: dict[str, None] = field(default_factory=dict)
    severity: str = "detection"
    best_event_id: str = ""  # whose snapshot shows the item
    best_score: float = -1.0

    def add(self, span: Span) -> None:
        self.end = max(self.end, span.end)
        if span.event_id not in self.event_ids:
            self.event_ids.append(span.event_id)
        self.labels.update(dict.fromkeys([span.label]))
        self.zones.update(dict.fromkeys(span.zones))
        if span.severity == "alert":
            self.severity = "alert"
        if span.score > self.best_score:
            self.best_score, self.best_event_id = span.score, span.event_id


def active_spans(track: Sequence[Sequence[float]], *, still_shift: float = STILL_SHIFT,
                 still_active_s: float = STILL_ACTIVE_S) -> list[tuple[float, float]]:
    """The times an object was active, from its track ``[[t, x0, y0, x1, y1, score], …]``: all of it if it
    moved at once; else its first ``still_active_s``, and from when it first moved away to its end."""
    if not track:
        return []
    first_t, x0, _, x1, y1 = track[0][:5]
    origin = ((x0 + x1) / 2, y1)
    last_t = track[-1][0]
    for t, a0, _, a1, b1, *_ in track:
        if abs((a0 + a1) / 2 - origin[0]) > still_shift or abs(b1 - origin[1]) > still_shift:
            if t - first_t <= still_active_s:
                return [(first_t, last_t)]
            return [(first_t, first_t + still_active_s), (t, last_t)]
    return [(first_t, min(last_t, first_t + still_active_s))]


def spans_of(row: EventRow, **still: float) -> list[Span]:
    zones = tuple(json.loads(row.zones_json or "[]"))
    severity = row.severity or "detection"
    track = json.loads(row.track_json or "[]")
    if not track:  # no stored track: the event's own times
        end = (row.end_at or row.start_at).timestamp()
        return [Span(row.id, row.label, row.start_at.timestamp(), end, zones, severity, row.max_score)]
    return [Span(row.id, row.label, start, end, zones, severity, row.max_score)
            for start, end in active_spans(track, **still)]


def group(spans: Iterable[Span], *, gap_s: float = GAP_S, max_item_s: float = MAX_ITEM_S) -> list[ReviewItem]:
    """One camera's spans as review items, oldest first."""
    items: list[ReviewItem] = []
    current: ReviewItem | None = None
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if current is None or span.start > current.end + gap_s or span.start - current.start >= max_item_s:
            current = ReviewItem(start=span.start, end=span.end)
            items.append(current)
        current.add(span)
    return items
