"""Review items (issue #20): a camera's overlapping events make one item; a parked vehicle makes one item
and then nothing until it moves. Over event rows as the edge stores them (times, labels, zones, track)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from agents.edge.db.tables import EventRow
from agents.edge.events.review_items import active_spans, group, spans_of

T0 = 1_780_000_000.0


def _row(event_id: str, label: str, points: list[tuple[float, float, float]], *, zones: tuple[str, ...] = (),
         severity: str = "detection", score: float = 0.8) -> EventRow:
    """An event whose object stood at (x, y) — its box's bottom-centre — at each time t (seconds after T0)."""
    track = [[T0 + t, x - 0.03, y - 0.2, x + 0.03, y, score] for t, x, y in points]
    return EventRow(id=event_id, camera="campus", label=label, model="m@1",
                    start_at=datetime.fromtimestamp(T0 + points[0][0], UTC),
                    end_at=datetime.fromtimestamp(T0 + points[-1][0], UTC), ended=True, max_score=score, mean_score=score,
                    hits=len(points), track_json=json.dumps(track), zones_json=json.dumps(list(zones)), severity=severity)


def _walk(start: float, seconds: float, y: float = 0.6) -> list[tuple[float, float, float]]:
    """Left to right across the picture, 5 points a second."""
    n = int(seconds * 5)
    return [(start + i / 5, 0.1 + 0.8 * i / n, y) for i in range(n + 1)]


def _items(rows: list[EventRow]):
    return group(span for row in rows for span in spans_of(row))


def test_overlapping_events_make_one_item_with_everything_it_needs() -> None:
    rows = [
        _row("a", "person", _walk(0, 10), zones=("path",), score=0.6),
        _row("b", "person", _walk(4, 10), zones=("lawn", "path"), score=0.9),
        _row("c", "car", _walk(16, 5), zones=("drive",), severity="alert", score=0.7),  # 2 s after b: same activity
        _row("d", "person", _walk(40, 5), score=0.7),  # 19 s later: another item
    ]
    first, second = _items(rows)
    assert (first.start - T0, first.end - T0) == (0, 21)
    assert first.event_ids == ["a", "b", "c"] and list(first.labels) == ["person", "car"]
    assert list(first.zones) == ["path", "lawn", "drive"] and first.severity == "alert"
    assert first.best_event_id == "b"  # the best snapshot: the highest score
    assert second.event_ids == ["d"] and second.severity == "detection"


def test_a_parked_vehicle_makes_one_item_then_nothing_until_it_moves() -> None:
    parked = [(t / 5, 0.5 + (0.004 if t % 2 else 0.0), 0.2) for t in range(0, 300)]  # 60 s, jittering a little
    drives_off = [(60 + t / 5, 0.5 + 0.02 * t, 0.2) for t in range(1, 20)]
    rows = [
        _row("van", "truck", parked + drives_off),
        _row("p1", "person", _walk(20, 6)),
        _row("p2", "person", _walk(45, 6)),
    ]
    items = _items(rows)
    assert [item.event_ids for item in items] == [["van"], ["p1"], ["p2"], ["van"]]
    assert [(round(i.start - T0, 1), round(i.end - T0, 1)) for i in items] == [(0, 5), (20, 26), (45, 51), (60.4, 63.8)]
    # Without the stationary rule the van's 64 s would swallow both walkers into one item.
    assert len(group(span for row in rows for span in spans_of(row, still_active_s=float("inf")))) == 1


def test_a_long_busy_scene_is_cut_into_items_of_bounded_length() -> None:
    rows = [_row(f"p{i}", "person", _walk(i * 8, 10)) for i in range(40)]  # 5 minutes of people, always someone
    items = _items(rows)
    assert len(items) == 3 and all(item.end - item.start <= 120 + 10 for item in items)
    assert sum(len(item.event_ids) for item in items) == 40


def test_active_spans_of_a_track() -> None:
    assert active_spans([]) == []
    moving = [[T0 + t, 0.1 * t, 0.0, 0.1 * t + 0.05, 0.5, 0.8] for t in range(5)]
    assert active_spans(moving) == [(T0, T0 + 4)]
    still = [[T0 + t, 0.4, 0.0, 0.46, 0.5, 0.8] for t in range(30)]
    assert active_spans(still) == [(T0, T0 + 5)]


def test_a_car_that_drives_in_is_active_until_it_has_parked_and_again_from_when_it_drives_off() -> None:
    # In at 0.02 of the picture a second until 10 s, stands 60 s (jittering a little), off to the right from 70 s.
    parks = [(t / 5, 0.1 + 0.02 * min(t / 5, 10) + (0.004 if t % 2 else 0.0) + 0.02 * max(0.0, t / 5 - 70), 0.6)
             for t in range(0, 80 * 5)]
    arrived, left = spans_of(_row("car", "car", parks))
    # Its stop began with the last point of its drive in that stood over 0.03 from its stop before (9.4 s); it
    # parked PARKED_S (30 s) later, active no more; active again once 0.03 away from where it parked.
    assert (round(arrived.start - T0, 1), round(arrived.end - T0, 1)) == (0, 39.4)
    assert (round(left.start - T0, 1), round(left.end - T0, 1)) == (71.8, 79.8)
    # A person walking 5 s, pausing 8 s, walking on 5 s is active all along.
    pause = [(t / 5, 0.1 + 0.08 * (min(t / 5, 5) + max(0.0, t / 5 - 13)), 0.6) for t in range(0, 18 * 5 + 1)]
    assert [(round(s.start - T0, 1), round(s.end - T0, 1)) for s in spans_of(_row("p", "person", pause))] == [(0, 18)]
