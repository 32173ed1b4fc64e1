"""Review items: a camera's overlapping events grouped into one thing to review (issue #20).

A person walking past makes one event per track, and a busy minute makes twenty rows; what an owner
reviews is "activity on the campus camera from 10:04:12 to 10:04:51: people, a car, in the driveway".
:func:`group` joins a camera's events whose *active spans* overlap or follow within ``gap_s`` into one
:class:`ReviewItem` (start, end, labels, zones, severity — an alert if any of its events is — and the event
whose snapshot is the best, the highest scoring), at most ``max_item_s`` long.

Stationary objects do not keep an item open: an object whose standing point (the bottom-centre of its box)
stays within ``still_shift`` of where it was first seen is active only for its first ``still_active_s``
(a parked vehicle makes one item, then nothing) and again from the moment it has moved (it drives off).
An object that moved and then stopped (a car drives in and parks) is judged from where it last stopped
(:class:`Standing`): once its standing point has stayed within ``still_shift`` of one point for
:data:`PARKED_S` it is parked, active no more, and when it then stands away from that point for
:data:`MOVE_CONFIRM_S` it has moved off (the event manager ends its event there and starts a new one, so the
move is news). :data:`PARKED_S` is long on purpose, and the same for every label: a person pausing at a door
for a few seconds, or a car waiting at a gate, must neither end the item under them nor be told twice when
they go on; half a minute of standing still is parking, not a pause. (Only after it, both rules at once: an
object not yet parked keeps its item busy, so no item ends under a pause that is then followed by a move.)

Pure functions over the events' stored rows (times, labels, zones, severity, track); nothing here leaves
the edge that the event summaries do not already carry.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from agents.edge.db.tables import EventRow

# Defaults measured on the demo footage (bench/detection_events.py --items).
GAP_S = 5.0  # events this close in time are one activity
MAX_ITEM_S = 120.0  # a busy scene is cut into items of at most this long
STILL_SHIFT = 0.03  # fraction of the picture: a standing point closer than this to its first has not moved
STILL_ACTIVE_S = 5.0  # how long a stationary object counts as activity after it appeared
# A stationary object has moved off once it stood away from where it appeared this long (the event manager ends
# its event and starts a new one then): a passer-by hiding part of a parked van for a moment does not move it.
MOVE_CONFIRM_S = 1.0
# An object that moved has parked once it stood within STILL_SHIFT of one point this long: it stops keeping its
# item busy, and moving off later is a new event. Long enough that a pause (someone at a door) is not parking.
PARKED_S = 30.0


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


def has_moved(first: Sequence[float], point: Sequence[float], *, still_shift: float = STILL_SHIFT) -> bool:
    """Whether the box ``point`` ``(t, x0, y0, x1, y1, …)`` stands away from where ``first`` stood."""
    _, x0, _, x1, y1 = first[:5]
    _, a0, _, a1, b1 = point[:5]
    return abs((a0 + a1) / 2 - (x0 + x1) / 2) > still_shift or abs(b1 - y1) > still_shift


@dataclass
class Standing:
    """Where a moving object last stopped, followed point by point (``(t, x0, y0, x1, y1, …)``): ``at`` is the
    first point of its current stop (a point away from it starts a new one); once it has stood within
    ``still_shift`` of it for ``parked_s`` it is parked where it stands then (the first point of a stop may
    still be rolling in), and it has moved off once it stands away from there for :data:`MOVE_CONFIRM_S` (a
    passer-by hiding it for a moment does not move it)."""

    at: tuple[float, ...]
    parked_s: float = PARKED_S
    still_shift: float = STILL_SHIFT
    parked_at: float | None = None  # when it became parked (its last active moment), or None
    away_since: float | None = None  # parked: when it began to stand away from where it parked

    @property
    def parked(self) -> bool:
        return self.parked_at is not None

    def follow(self, point: Sequence[float]) -> bool:
        """Take the object's newest point; whether, parked, it has moved off with it."""
        away = has_moved(self.at, point, still_shift=self.still_shift)
        if self.parked_at is None:
            if away:
                self.at = tuple(point)
            elif point[0] - self.at[0] >= self.parked_s:
                self.at, self.parked_at = tuple(point), point[0]
            return False
        if not away:
            self.away_since = None
            return False
        if self.away_since is None:
            self.away_since = point[0]
        return point[0] - self.away_since >= MOVE_CONFIRM_S


def active_span(first_t: float, moved_t: float | None, last_t: float, *,
                still_active_s: float = STILL_ACTIVE_S) -> tuple[float, float]:
    """The newest time an object was active, from when it appeared, first moved (None: not yet) and was
    last seen: all of it if it moved at once; else its first ``still_active_s``, or from when it moved."""
    if moved_t is None:
        return first_t, min(last_t, first_t + still_active_s)
    return (first_t if moved_t - first_t <= still_active_s else moved_t), last_t


def active_spans(track: Sequence[Sequence[float]], *, still_shift: float = STILL_SHIFT,
                 still_active_s: float = STILL_ACTIVE_S, parked_s: float = PARKED_S) -> list[tuple[float, float]]:
    """The times an object was active, from its track ``[[t, x0, y0, x1, y1, score], …]``: all of it if it
    moved at once; else its first ``still_active_s``, and from when it first moved away to its end; once
    moving, not while it is parked (:class:`Standing`: from ``parked_s`` after it stopped until it moves off)."""
    if not track:
        return []
    first_t, last_t = track[0][0], track[-1][0]
    moved_t = next((p[0] for p in track if has_moved(track[0], p, still_shift=still_shift)), None)
    newest = active_span(first_t, moved_t, last_t, still_active_s=still_active_s)
    if moved_t is None:
        return [newest]
    spans = [] if newest[0] == first_t else [(first_t, first_t + still_active_s)]
    start, standing = newest[0], None
    for point in track:
        if point[0] <= moved_t:
            continue
        if standing is None:
            standing = Standing(tuple(point), parked_s, still_shift)
        elif standing.follow(point):  # moved off where it was parked: active again from the move
            assert standing.parked_at is not None and standing.away_since is not None
            spans.append((start, standing.parked_at))
            start, standing = standing.away_since, Standing(tuple(point), parked_s, still_shift)
    parked_at = standing.parked_at if standing is not None else None
    spans.append((start, last_t if parked_at is None else parked_at))
    return spans


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


@dataclass
class OpenItem:
    """A review item as :class:`ItemGrouper` keeps it while its events come in: its span, and what it shows
    (what the LAN's MQTT broker is told as it changes)."""

    id: str
    start: float
    end: float  # the end of its events' activity so far
    event_ids: dict[str, None] = field(default_factory=dict)  # in the order they joined
    labels: dict[str, None] = field(default_factory=dict)
    zones: dict[str, None] = field(default_factory=dict)
    severity: str = "detection"
    ended: bool = False  # nothing joins it any more (:meth:`ItemGrouper.end_idle`)

    def take(self, event_id: str, label: str, zones: Iterable[str], severity: str) -> bool:
        """An event of it as it stands now; whether what the item shows changed (not its end, which moves
        with every frame)."""
        before = (len(self.event_ids), len(self.labels), len(self.zones), self.severity)
        self.event_ids.update(dict.fromkeys([event_id]))
        self.labels.update(dict.fromkeys([label]))
        self.zones.update(dict.fromkeys(zones))
        if severity == "alert":
            self.severity = "alert"
        return before != (len(self.event_ids), len(self.labels), len(self.zones), self.severity)


class ItemGrouper:
    """:func:`group` done as one camera's events are opened and updated (the event manager's), so that each
    event can be sent with the id of its item: an event's activity joins the camera's current item if it
    starts within ``gap_s`` of its end (and the item is not ``max_item_s`` old yet), else starts a new one.

    An event keeps its item while its object stays active; a stationary object stops keeping it open after
    :data:`STILL_ACTIVE_S`, one that moved and then stopped once it is parked (:class:`Standing`). When it
    moves off later (the parked van drives off) the event manager ends its event and places a new one, into
    the item open then, or a new one; the first item keeps its event.

    An item ends (:meth:`end_idle`) once none of its events is active and ``gap_s`` has passed since its
    activity: from then on nothing joins it (an event confirmed just after, whose object was first seen
    just before, starts a new item), so that an item said to have ended never changes again."""

    def __init__(self, *, gap_s: float = GAP_S, max_item_s: float = MAX_ITEM_S,
                 new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.gap_s = gap_s
        self.max_item_s = max_item_s
        self.new_id = new_id
        self.current: OpenItem | None = None
        self.open: dict[str, OpenItem] = {}  # the items not ended yet, by id

    def place(self, item: OpenItem | None, start: float, end: float) -> OpenItem:
        """The item of an event whose object is active over [start, end] (:func:`active_span`): ``item``
        (the event's so far) while this activity continues it, else the camera's current one or a new one."""
        if item is not None and start <= item.end + self.gap_s:
            if not item.ended:  # an ended item keeps the activity it holds (a van parked since), gets no more
                item.end = max(item.end, end)
            return item
        current = self.current
        if (current is None or current.ended or start > current.end + self.gap_s
                or start - current.start >= self.max_item_s):
            current = self.current = OpenItem(self.new_id(), start, end)
            self.open[current.id] = current
        current.end = max(current.end, end)
        return current

    def end_idle(self, now: float, busy: Iterable[str], final: bool = False) -> list[OpenItem]:
        """End the items that ``gap_s`` before ``now`` had no activity and hold no active event (``busy``:
        the ids of the items that do), or every open item when ``final``; the items ended, oldest first."""
        keep = set(busy)
        ended = [item for item in self.open.values()
                 if final or (item.id not in keep and now > item.end + self.gap_s)]
        for item in ended:
            item.ended = True
            del self.open[item.id]
        return ended
