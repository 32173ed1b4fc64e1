"""Turning a camera's tracks into events.

A confirmed track opens an event (stored and queued at once, ``ended=False``); while it lives, its best
frame (highest score) is kept and its track is stored again every :data:`PROGRESS_INTERVAL_S` (so that an
event a killed detector left open can be ended at about the last time its object was seen); when it ends the snapshot and thumbnail are written, the event is closed
and queued again; once the post-roll has been recorded the clip is assembled and the event queued a last
time with its ``clip_ref``. The outbox keeps one row per event id, so the relay gets the newest state.
Tracks (and so events and review items) are timed by the camera's clock, recordings by this box's: the clip's
span is moved into the recording's time base (``recording_offset``, from the detection pipeline) and its due
and give-up times are on this box's clock, whichever of the two is ahead.
Each time the track is stored, so are the names of the camera's zones its object stood in (``zones_at``,
the camera's rules), and the event's severity (``severity_of``: alert when a person or vehicle stood in
one of the camera's alert zones, detection otherwise; it only ever rises, as the zones only grow).
Each event is placed in a review item as it opens and while its object is active (``review_item``, the
camera's :class:`~agents.edge.events.review_items.ItemGrouper`). An object that stood still since it
appeared and then moves off (a parked van drives off: it stands away from where it appeared for
:data:`~agents.edge.events.review_items.MOVE_CONFIRM_S`), or one that moved, then parked (stood still for
:data:`~agents.edge.events.review_items.PARKED_S`, judged from where it last stopped: a car drove in and
parked; until then it keeps its item busy, and once parked no more) and then moves off, ends its event where it
stood, and a new event begins with the move, placed as any new one (so the move is news: a new item on MQTT, a new event and item
for the cloud's push), while the first item keeps its event. The observer is told of each item as it is
made, changes (its events, labels, zones, severity) and ends (``ItemGrouper.end_idle``: no active event and
nothing for ``gap_s`` of the camera's clock; checked after each result and on every :meth:`EventManager.tick`).
An event's zones are looked at with every result, and a change of its zones or severity stores and queues it
at once.

With ``deferred=True`` (the detector's event thread) writes are collected instead of made at once, newest
state per event, and :meth:`EventManager.take_unsaved` hands them to the caller, which stores them in one
transaction (:meth:`EventStore.save_all`) with every other camera's, at most every half second.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agents.edge.db.tables import EventRow
from agents.edge.events.config import EventsSection
from agents.edge.events.observer import EventObserver
from agents.edge.events.review_items import (
    MOVE_CONFIRM_S,
    STILL_ACTIVE_S,
    ItemGrouper,
    OpenItem,
    Standing,
    active_span,
    has_moved,
)
from agents.edge.events.store import EventStore
from agents.edge.tracking.tracker import Track, TrackerUpdate
from agents.edge.tracking.types import Box
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.events")


class EventMedia(Protocol):
    """Snapshots and clips, provided by the video side."""

    def snapshot(self, frame: np.ndarray, box: tuple[float, float, float, float], snapshot: Path, thumbnail: Path) -> None:
        """Write a JPEG of ``frame`` (RGB) and a small thumbnail cropped around ``box``."""

    def clip(self, camera: str, start: datetime, end: datetime, target: Path, partial_ok: bool = False) -> float | None:
        """Assemble [start, end] of ``camera``'s recording into ``target``; its duration, or None if the
        recording does not cover the span (yet). With ``partial_ok`` (the last attempt) whatever part of
        the span is recorded will do."""


# After end + post-roll, how long to wait for the recording to cover the span (segments are indexed when
# complete, so at least a segment length plus a GOP); then the clip is made of what there is.
CLIP_WAIT_S = 25.0
MAX_TRACK_POINTS = 600  # kept per event in the database (the uplink sends fewer)
# An open event's track is stored (and queued) again after this much more of it: if the detector is
# killed, the next run ends the event at its last stored point, so this bounds how short it comes out.
PROGRESS_INTERVAL_S = 10.0


def clip_wait_s(segment_seconds: float) -> float:
    """The post-roll's segment is indexed once complete: up to a segment length (+ a GOP) later."""
    return max(CLIP_WAIT_S, 2 * segment_seconds + 5)


@dataclass
class _Open:
    row: EventRow
    track: Track
    best_score: float = -1.0
    best_frame: np.ndarray | None = None
    best_box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    saved_through: float = 0.0  # the track's last_seen when the row was last stored
    zones: dict[str, None] = field(default_factory=dict)  # zone names in the order entered (a dict keeps it)
    zoned_points: int = 0  # track points looked at for zones so far
    item: OpenItem | None = None  # the review item it is in
    moved_at: float | None = None  # when its object first stood away from where it appeared, within STILL_ACTIVE_S
    # Its points in its track's history: [since, until) (an event split off a track when its parked object
    # drove off keeps the points up to the move, the new one those from it).
    since: int = 0
    until: int | None = None
    away_since: float | None = None  # a stationary object: when it began to stand away from where it appeared
    standing: Standing | None = None  # a moving object: where it last stopped, whether it parked there
    point_texts: list[str] = field(default_factory=list)  # its points from ``since`` on as JSON (_track_json)

    @property
    def parked(self) -> bool:
        return self.standing is not None and self.standing.parked

    @property
    def start(self) -> float:
        return self.track.history[self.since][0]

    @property
    def last(self) -> tuple[float, Box, float]:
        return self.track.history[(len(self.track.history) if self.until is None else self.until) - 1]

    def points(self) -> list[tuple[float, Box, float]]:
        return self.track.history[self.since:self.until]

    def stats(self) -> tuple[float, float, int]:
        """Its best and mean score and its hits (its track's, unless it is a part of it)."""
        if self.since == 0 and self.until is None:
            return self.track.max_score, self.track.mean_score, self.track.hits
        scores = [score for _, _, score in self.points()]
        return max(scores), float(np.mean(scores)), len(scores)


@dataclass
class _PendingClip:
    row: EventRow
    due: float  # when the post-roll is recorded, on this box's clock (the recording's, see _close)
    give_up: float  # when a clip of whatever is recorded will do, on this box's clock


@dataclass
class EventCounts:
    opened: int = 0
    closed: int = 0
    clips: int = 0
    clip_failures: int = 0
    by_label: dict[str, int] = field(default_factory=dict)


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class EventManager:
    def __init__(self, camera: str, store: EventStore, media: EventMedia, data_dir: Path, model_ref: str,
                 settings: EventsSection | None = None, deferred: bool = False, clip_wait_s: float = CLIP_WAIT_S) -> None:
        self.camera = camera
        self.store = store
        self.media = media
        self.data_dir = data_dir
        self.model_ref = model_ref
        self.settings = settings or EventsSection()
        self.clip_wait_s = clip_wait_s
        self.open: dict[int, _Open] = {}
        self.pending_clips: list[_PendingClip] = []
        self.counts = EventCounts()
        self.deferred = deferred
        self.unsaved: dict[str, EventRow] = {}  # event id → its newest state, while ``deferred``
        # The names of the camera's zones a box stands in; set by the detection pipeline (None: no zones).
        self.zones_at: Callable[[Box], Sequence[str]] | None = None
        # An event's severity from its label and zones; set by the detection pipeline (None: detections only).
        self.severity_of: Callable[[str, Sequence[str]], str] | None = None
        # Told of each start, change and end (the MQTT publisher); set by the detection service.
        self.observer: EventObserver | None = None
        # How far this box's clock, which the recorder stamps segments by, is ahead of the camera's, which tracks
        # are timed by; set by the detection pipeline (from its newest frame), else the clocks are one.
        self.recording_offset: Callable[[], float] = lambda: 0.0
        self.items = ItemGrouper()

    def _save(self, row: EventRow) -> None:
        if self.deferred:
            self.unsaved[row.id] = row
        else:
            self.store.save(row)

    def take_unsaved(self) -> list[EventRow]:
        """The rows changed since the last call (``deferred``): the caller stores them."""
        rows, self.unsaved = list(self.unsaved.values()), {}
        return rows

    def _paths(self, row: EventRow) -> tuple[str, str, str]:
        day = row.start_at.strftime("%Y-%m-%d")
        base = f"events/{self.camera}/{day}/{row.id}"
        return f"{base}.jpg", f"{base}-thumb.jpg", f"{base}.mp4"

    def handle(self, update: TrackerUpdate, frame: np.ndarray, now: float) -> list[str]:
        """Open, update and close the events of ``update``'s tracks; the labels of the events that ended and
        began again with this frame (a parked object that drove off, :meth:`_split`)."""
        split: list[str] = []
        for track in update.confirmed:
            opened = self._open_event(track, track.first_seen, track.history)
            # Debug, as every per-event line: at info each passer-by would be a line in the journal shipped
            # to the operator (docs/operations.md "Logs"); the event itself is in the database.
            log.debug("event_opened", camera=self.camera, event_id=opened.row.id, label=track.label)
        for track, det in update.updated:
            ev = self.open.get(track.id)
            if ev is None:
                continue
            if self._drove_off(ev):
                ev = self._split(ev)
                split.append(track.label)
            moved_item = self._place(ev, track.history[-1:])
            shown = (len(ev.zones), ev.row.severity)
            self._look_at_zones(ev)
            # A zone entered or an alert: said at once (the item on MQTT, the summary to the cloud).
            if moved_item or shown != (len(ev.zones), ev.row.severity) \
                    or track.last_seen - ev.saved_through >= PROGRESS_INTERVAL_S:
                row = ev.row
                row.max_score, row.mean_score, row.hits = ev.stats()
                row.track_json, row.zones_json = self._track_json(ev), json.dumps(list(ev.zones))
                ev.saved_through = track.last_seen
                self._save(row)
                if self.observer is not None:
                    self.observer.event_changed("update", row, None)
                self._item_took(ev)
            if det.score > ev.best_score:
                ev.best_score = det.score
                ev.best_box = det.box
                # Kept by reference, not copied (1.3 MB at 768×576, often several times per event as
                # the score rises): each frame is its own array (the BGR conversion allocates it) and
                # nothing writes to it after it was analysed.
                ev.best_frame = frame
        for track in update.ended:
            self._close(track, now)
        self._end_items(now)
        return split

    def _drove_off(self, ev: _Open) -> bool:
        """Whether the event's object, which stood still since it appeared, has moved off with its newest
        point: it stood away from where it appeared for :data:`MOVE_CONFIRM_S` (a passer-by hiding part of
        a parked van for a moment does not move it); or, one that moved, it parked and has moved off."""
        t, box, _ = ev.track.history[-1]
        if ev.moved_at is not None:
            if ev.standing is None:
                ev.standing = Standing((t, *box))
                return False
            if not ev.standing.follow((t, *box)):
                return False
            ev.away_since = ev.standing.away_since  # where _split cuts its track
            return True
        if t - ev.start <= STILL_ACTIVE_S:
            return False  # it may still move at once (:meth:`_place`)
        first = ev.track.history[ev.since]
        if not has_moved((first[0], *first[1]), (t, *box)):
            ev.away_since = None
            return False
        if ev.away_since is None:
            ev.away_since = t
        return t - ev.away_since >= MOVE_CONFIRM_S

    def _split(self, ev: _Open) -> _Open:
        """A parked object drove off (the van that stood there since it appeared, or the car that drove in and
        parked): its event ends where it stood, and a new one begins with the move, in the review item of then,
        so that the move is news (a new item on MQTT, a new event and item the cloud notifies of) and the first
        item keeps its event."""
        track = ev.track
        assert ev.away_since is not None
        moved = next(i for i in range(len(track.history) - 1, ev.since, -1) if track.history[i][0] <= ev.away_since)
        ev.until = moved
        del self.open[track.id]
        self._finish(ev)
        start_t = track.history[moved][0]
        new = self._open_event(track, start_t, (), since=moved, zoned_points=moved, moved_at=start_t)
        log.debug("event_opened", camera=self.camera, event_id=new.row.id, label=track.label, drove_off_from=ev.row.id)
        return new

    def _open_event(self, track: Track, start_t: float, new_points: Sequence[tuple[float, Box, float]],
                    **part: Any) -> _Open:
        """A new event of ``track`` from ``start_t``: stored, placed in its review item (``new_points``: its
        points not looked at yet), told to the observer. ``part``: the :class:`_Open` fields of an event that
        is a part of its track (:meth:`_split`)."""
        row = EventRow(
            id=str(uuid.uuid4()), camera=self.camera, label=track.label, model=self.model_ref,
            start_at=_dt(start_t), end_at=None, ended=False, max_score=0.0, mean_score=0.0, hits=0,
            snapshot_ref="", thumbnail_ref="", clip_ref="", clip_duration_s=0.0, track_json="[]", severity="detection",
        )
        ev = self.open[track.id] = _Open(row, track, saved_through=track.last_seen, **part)
        row.max_score, row.mean_score, row.hits = ev.stats()
        row.track_json, row.zones_json = self._track_json(ev), self._zones_json(ev)
        self._place(ev, new_points)
        self._save(row)
        if self.observer is not None:
            self.observer.event_changed("start", row, None)
        self._item_took(ev)
        self.counts.opened += 1
        self.counts.by_label[track.label] = self.counts.by_label.get(track.label, 0) + 1
        return ev

    def _place(self, ev: _Open, new_points: Sequence[tuple[float, Box, float]]) -> bool:
        """Place the event in its review item from its activity so far (``new_points``: its track's points
        not looked at yet); whether it went to another item than it was in."""
        if ev.moved_at is None:
            first = ev.track.history[ev.since]
            ev.moved_at = next((t for t, box, _ in new_points
                                if t - ev.start <= STILL_ACTIVE_S and has_moved((first[0], *first[1]), (t, *box))), None)
        start, end = active_span(ev.start, ev.moved_at, ev.last[0])
        if ev.standing is not None and ev.standing.parked_at is not None:
            end = min(end, ev.standing.parked_at)  # parked: active no more (it drove in, then stood still)
        before = ev.item
        ev.item = self.items.place(ev.item, start, end)
        if before is not ev.item:  # a row's attribute set is SQLAlchemy's instrumented one: not once per result
            ev.row.review_item = ev.item.id
        return before is not None and before is not ev.item

    def _item_took(self, ev: _Open) -> None:
        """Tell the observer of the event's item, when it is new or what it shows changed."""
        item = ev.item
        if item is None or item.ended:
            return  # an item said to have ended never changes
        new = not item.event_ids
        changed = item.take(ev.row.id, ev.row.label, ev.zones, ev.row.severity or "detection")
        if self.observer is not None and (new or changed):
            self.observer.item_changed("new" if new else "update", self.camera, item)

    def _end_items(self, now: float, final: bool = False) -> None:
        """End the items nothing active holds open any more (``final``: every one, the service stops)."""
        if not self.items.open:
            return
        # An event holds its item while its object is active: it moved (a walker; a car that drove in) and has
        # not parked since, or has not stood still long enough yet. A stationary or parked one that moves off
        # later is a new event (_split).
        busy = [ev.item.id for ev in self.open.values() if ev.item is not None
                and ((ev.moved_at is not None and not ev.parked) or now <= ev.start + STILL_ACTIVE_S)]
        for item in self.items.end_idle(now, busy, final):
            if self.observer is not None and item.event_ids:
                self.observer.item_changed("end", self.camera, item)

    def _track_json(self, ev: _Open) -> str:
        """The event's newest :data:`MAX_TRACK_POINTS` points as JSON. A point's text is made once (the row
        is stored again every :data:`PROGRESS_INTERVAL_S`, a long event's whole track each time)."""
        history = ev.track.history
        end = len(history) if ev.until is None else ev.until
        texts = ev.point_texts
        for t, box, score in history[ev.since + len(texts):end]:
            texts.append(json.dumps([round(t, 3), *(round(v, 4) for v in box), round(score, 3)]))
        return "[" + ", ".join(texts[max(0, end - ev.since - MAX_TRACK_POINTS):end - ev.since]) + "]"

    def _zones_json(self, ev: _Open) -> str:
        """The zones any point of the event's track stood in, in the order first entered (JSON)."""
        self._look_at_zones(ev)
        return json.dumps(list(ev.zones))

    def _look_at_zones(self, ev: _Open) -> None:
        """Add the zones the event's points since the last call stood in (a long event is not gone over
        again each time), and raise its severity if they make it an alert."""
        history = ev.track.history
        end = len(history) if ev.until is None else ev.until
        if self.zones_at is not None:
            for _, box, _ in history[ev.zoned_points:end]:
                ev.zones.update(dict.fromkeys(self.zones_at(box)))
        ev.zoned_points = max(ev.zoned_points, end)
        # Never lowered: a rule change does not demote an alert already sent.
        if self.severity_of is not None and ev.row.severity != "alert":
            severity = self.severity_of(ev.row.label, list(ev.zones))
            if severity != ev.row.severity:
                ev.row.severity = severity

    def _close(self, track: Track, now: float) -> None:
        ev = self.open.pop(track.id, None)
        if ev is not None:
            self._finish(ev)

    def _finish(self, ev: _Open) -> None:
        """End the event: snapshot, the row's last state, its clip to be made once recorded."""
        row = ev.row
        self._place(ev, [ev.last])
        snap, thumb, _clip = self._paths(row)
        if ev.best_frame is not None:
            try:
                (self.data_dir / snap).parent.mkdir(parents=True, exist_ok=True)
                self.media.snapshot(ev.best_frame, ev.best_box, self.data_dir / snap, self.data_dir / thumb)
                row.snapshot_ref, row.thumbnail_ref = snap, thumb
            except Exception as exc:
                log.warning("snapshot_failed", camera=self.camera, event_id=row.id, error=str(exc))
        last_seen = ev.last[0]
        row.end_at = _dt(last_seen)
        row.ended = True
        row.max_score, row.mean_score, row.hits = ev.stats()
        row.track_json, row.zones_json = self._track_json(ev), self._zones_json(ev)
        # The clip's span in the recording's time base (this box's clock), its deadlines on the same clock.
        offset = self.recording_offset()
        row.clip_start = row.start_at + timedelta(seconds=offset - self.settings.pre_roll_s)
        row.clip_end = row.end_at + timedelta(seconds=offset + self.settings.post_roll_s)
        self._save(row)
        if self.observer is not None:
            self.observer.event_changed("end", row, self.data_dir / snap if row.snapshot_ref else None)
        self._item_took(ev)
        self.counts.closed += 1
        due = last_seen + offset + self.settings.post_roll_s
        self.pending_clips.append(_PendingClip(row, due, due + self.clip_wait_s))
        log.debug("event_closed", camera=self.camera, event_id=row.id, label=row.label, hits=row.hits)

    def tick(self, now: float, final: bool = False, camera_now: float | None = None) -> None:
        """Assemble the clips whose post-roll has been recorded by ``now``, this box's clock (the recorder's);
        call regularly. ``final``: the last chance (shutdown), a clip of whatever part of the span is recorded
        beats none. Ends the review items that went idle (no result may come while nothing moves) by
        ``camera_now``, the camera's clock that its tracks are timed by (``now`` when not given)."""
        self._end_items(now if camera_now is None else camera_now, final)
        still: list[_PendingClip] = []
        for pending in self.pending_clips:
            if now < pending.due and not final:
                still.append(pending)
                continue
            row = pending.row
            _, _, clip = self._paths(row)
            last_try = final or now >= pending.give_up
            try:
                (self.data_dir / clip).parent.mkdir(parents=True, exist_ok=True)
                assert row.clip_start is not None and row.clip_end is not None
                duration = self.media.clip(self.camera, row.clip_start, row.clip_end, self.data_dir / clip,
                                           partial_ok=last_try)
            except Exception as exc:
                log.warning("clip_failed", camera=self.camera, event_id=row.id, error=str(exc))
                duration = None
            if duration is None:
                if not last_try:
                    still.append(pending)
                else:
                    self.counts.clip_failures += 1
                    log.warning("clip_unavailable", camera=self.camera, event_id=row.id)
                continue
            row.clip_ref, row.clip_duration_s = clip, float(duration)
            self._save(row)
            self.counts.clips += 1
        self.pending_clips = still

    def end(self, tracks: list[Track], now: float) -> None:
        """Close the events of tracks that ended without a frame (expired by time)."""
        for track in tracks:
            self._close(track, now)
        self._end_items(now)

    def shutdown(self, tracks: list[Track], now: float) -> None:
        """Close what is open (the service is stopping); every pending clip is tried once, with what
        is recorded so far."""
        self.end(tracks, now)
        self.tick(now, final=True)
