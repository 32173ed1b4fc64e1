"""An event's stored track: its newest points (at most ``MAX_TRACK_POINTS``), each as the detector boxed it,
stored again while the event lasts and when it ends; an event split off its track (a parked van drove off)
keeps the points up to the move and the new one those from it. The manager makes each point's text once and
reuses it at the next store, so every store along the way is checked, not just the last one."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from agents.edge.db.tables import EventRow
from agents.edge.events import manager

from . import parked

T0 = 1_780_000_000.0
CAP = 100  # points kept per event here (the van stands for 300 frames, so the cap is reached)


def _point(t: float) -> list[float]:
    (det,) = parked.van(t)
    return [round(T0 + t, 3), *(round(v, 4) for v in det.box), round(det.score, 3)]


def _expected(first_t: float, last_t: float) -> list[list[float]]:
    """The van's points from ``first_t`` to ``last_t`` (seconds after T0), the newest ``CAP`` of them."""
    frames = range(round(first_t * parked.FPS), round(last_t * parked.FPS) + 1)
    return [_point(i / parked.FPS) for i in frames][-CAP:]


def test_stored_tracks_are_the_newest_points_of_each_event_at_every_store(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(manager, "MAX_TRACK_POINTS", CAP)
    checked: list[int] = []

    def at(t: float, rows: Sequence[EventRow]) -> None:
        for row in rows:
            track = json.loads(row.track_json)
            assert track, row
            first, last = track[0][0] - T0, track[-1][0] - T0
            start = row.start_at.timestamp() - T0
            # Contiguous points of the event, as boxed, ending at its last stored one; capped, else from its start.
            assert track == _expected(max(start, last - (CAP - 1) / parked.FPS), last)
            assert first == pytest.approx(start, abs=1e-3) or len(track) == CAP
            checked.append(len(track))

    rows, _ = parked.run(tmp_path, T0, at=at)
    standing, leaving = rows
    # Stored while open (10 s apart) and checked above each second, before and after the cap was reached.
    assert min(checked) < CAP and max(checked) == CAP
    # The parked van's event ends at 60.6 s, its last point where it stood: its newest 100 points.
    assert json.loads(standing.track_json) == _expected(40.8, 60.6)
    # The drive-off's event has the points from the move on, not the parked ones.
    assert json.loads(leaving.track_json) == _expected(60.8, 69.8)
