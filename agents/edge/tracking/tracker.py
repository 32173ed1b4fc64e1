"""An IoU tracker with a constant-velocity prediction (SORT-style, without the dependency).

Each track predicts where its box will be (centre + velocity × elapsed time, size kept), detections are
matched to predictions of the same kind by IoU (greedy, best pairs first), and unmatched detections that
lie close to a recently lost track of the same kind re-attach to it (so a person passing behind a tree
stays one object). A track is *confirmed* after ``confirm_hits`` consecutive matched detections and
*ended* after ``end_after_s`` without one. Only confirmed tracks become events.

The kind is the label, except that every vehicle label is one kind (:func:`~agents.edge.models.labels.kind`):
the detector flips a parked van between car, truck and bus, which must not end its track and open another
event. A track's label is the vote of its detections (most detections; ties: the higher summed score),
settled when it is confirmed: the event opens with it, and an event's label never changes afterwards (the
cloud refuses a version of an event with another label).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from agents.edge.models.families.base import iou_matrix
from agents.edge.models.labels import kind
from agents.edge.tracking.config import TrackingSection
from agents.edge.tracking.types import Box, Detection


@dataclass
class Track:
    id: int
    label: str
    box: Box
    first_seen: float
    last_seen: float
    velocity: tuple[float, float] = (0.0, 0.0)  # of the centre, per second, normalised units
    hits: int = 1
    streak: int = 1
    confirmed: bool = False
    scores: list[float] = field(default_factory=list)
    history: list[tuple[float, Box, float]] = field(default_factory=list)  # (time, box, score)
    votes: dict[str, tuple[int, float]] = field(default_factory=dict)  # label → (detections, summed score)

    @property
    def kind(self) -> str:
        return kind(self.label)

    def vote(self, det: Detection) -> None:
        """Count ``det``'s label; until the track is confirmed its label follows the vote."""
        count, total = self.votes.get(det.label, (0, 0.0))
        self.votes[det.label] = (count + 1, total + det.score)
        if not self.confirmed:
            self.label = max(self.votes, key=lambda name: self.votes[name])

    def predict(self, now: float) -> Box:
        dt = max(0.0, now - self.last_seen)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        x0, y0, x1, y1 = self.box
        return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)

    @property
    def max_score(self) -> float:
        return max(self.scores) if self.scores else 0.0

    @property
    def mean_score(self) -> float:
        return float(np.mean(self.scores)) if self.scores else 0.0


@dataclass
class TrackerUpdate:
    confirmed: list[Track]  # became confirmed with this frame
    updated: list[tuple[Track, Detection]]  # confirmed tracks matched in this frame
    ended: list[Track]  # confirmed tracks that ended (unseen for end_after_s)
    dropped: int  # tentative tracks given up


def _centre(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


class Tracker:
    # Fixed tuning (the operator's knobs are in ``TrackingSection``).
    reattach_distance = 0.6  # lost-track re-attachment: centre distance in box diagonals
    velocity_smoothing = 0.5  # 0: keep old velocity, 1: take the newest measurement
    box_smoothing = 0.7  # weight of the new detection in the box estimate

    def __init__(self, settings: TrackingSection | None = None) -> None:
        self.settings = settings or TrackingSection()
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)

    @property
    def active(self) -> bool:
        return bool(self.tracks)

    def update(self, detections: Sequence[Detection], now: float) -> TrackerUpdate:
        s = self.settings
        result = TrackerUpdate([], [], [], 0)
        unmatched = list(range(len(detections)))
        matched_tracks: set[int] = set()
        if self.tracks and detections:
            preds = np.array([t.predict(now) for t in self.tracks], np.float32)
            dets = np.array([d.box for d in detections], np.float32)
            iou = iou_matrix(preds, dets)
            same = np.array([t.kind for t in self.tracks])[:, None] == np.array([kind(d.label) for d in detections])[None, :]
            iou = np.where(same, iou, 0.0)
            # Best pairs first; on this thread per result, so only the pairs above the bar are visited.
            rows, cols = np.nonzero(iou >= s.iou_match)
            pairs = sorted(zip(iou[rows, cols].tolist(), rows.tolist(), cols.tolist(), strict=True), reverse=True)
            for _, i, j in pairs:
                if i in matched_tracks or j not in unmatched:
                    continue
                matched_tracks.add(i)
                unmatched.remove(j)
                self._apply(self.tracks[i], detections[j], now, result)
            # Second chance for tracks not seen in this frame: re-attach a nearby detection of its kind.
            for i, track in enumerate(self.tracks):
                if i in matched_tracks or not unmatched:
                    continue
                pred = track.predict(now)
                pc = _centre(pred)
                diag = float(np.hypot(pred[2] - pred[0], pred[3] - pred[1])) or 1e-6
                best = min(
                    (j for j in unmatched if kind(detections[j].label) == track.kind),
                    key=lambda j: np.hypot(*np.subtract(_centre(detections[j].box), pc)),
                    default=None,
                )
                if best is not None and np.hypot(*np.subtract(_centre(detections[best].box), pc)) <= self.reattach_distance * diag:
                    matched_tracks.add(i)
                    unmatched.remove(best)
                    self._apply(track, detections[best], now, result)
        keep: list[Track] = []
        for i, track in enumerate(self.tracks):
            if i in matched_tracks:
                keep.append(track)
                continue
            track.streak = 0
            if not track.confirmed:
                result.dropped += 1  # a tentative track must be seen in consecutive inferences
            elif now - track.last_seen >= s.end_after_s:
                result.ended.append(track)
            else:
                keep.append(track)
        for j in unmatched:
            d = detections[j]
            track = Track(next(self._ids), d.label, d.box, now, now, scores=[d.score], history=[(now, d.box, d.score)],
                          votes={d.label: (1, d.score)})
            if s.confirm_hits <= 1:
                track.confirmed = True
                result.confirmed.append(track)
                result.updated.append((track, d))
            keep.append(track)
        self.tracks = keep
        return result

    def _apply(self, track: Track, det: Detection, now: float, result: TrackerUpdate) -> None:
        s = self.settings
        dt = now - track.last_seen
        if dt > 0:
            (ox, oy), (nx, ny) = _centre(track.box), _centre(det.box)
            v = ((nx - ox) / dt, (ny - oy) / dt)
            a = self.velocity_smoothing
            track.velocity = (a * v[0] + (1 - a) * track.velocity[0], a * v[1] + (1 - a) * track.velocity[1])
        b = self.box_smoothing
        track.box = tuple(b * n + (1 - b) * o for n, o in zip(det.box, track.predict(now), strict=True))  # type: ignore[assignment]
        track.last_seen = now
        track.hits += 1
        track.streak += 1
        track.scores.append(det.score)
        track.history.append((now, det.box, det.score))
        track.vote(det)
        if not track.confirmed and track.streak >= s.confirm_hits:
            track.confirmed = True
            result.confirmed.append(track)
        if track.confirmed:
            result.updated.append((track, det))

    def expire(self, now: float) -> TrackerUpdate:
        """End confirmed tracks unseen for ``end_after_s`` without a new frame (no detections to match); ``now``
        on the clock the detections were timed by (the camera's, not this box's: the pipeline's tick)."""
        result = TrackerUpdate([], [], [], 0)
        keep = []
        for track in self.tracks:
            if now - track.last_seen >= self.settings.end_after_s:
                if track.confirmed:
                    result.ended.append(track)
                else:
                    result.dropped += 1
            else:
                keep.append(track)
        self.tracks = keep
        return result

    def flush(self) -> list[Track]:
        """End every confirmed track (shutdown); returns them."""
        ended = [t for t in self.tracks if t.confirmed]
        self.tracks = []
        return ended
