"""The real edge services end to end on the real footage: ``guardian-edge recorder run`` (recording) and
``guardian-edge detector run`` (detection) as separate processes on one config, the test camera serving
the campus clip over RTSP; then what an operator would check: events in the edge SQLite with their
snapshots, thumbnails and clips, an outbox row per event, and the services' /metrics. Also: killing the
detector never stops recording, and a restarted detector picks up again."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import av
import httpx
import pytest
from PIL import Image

from agents.edge.db import open_database
from agents.edge.db.tables import Clip, EventRow, OutboxItem
from agents.edge.events.store import EventStore
from agents.edge.outbox import OutboxKind
from agents.edge.video.segments import VideoStore
from guardian.contracts.edge.v1 import uplink_pb2
from tests.edge.detection.services import EdgeProcess, sum_samples, wait_for, write_edge_config

pytestmark = pytest.mark.slow

LOOP_S = 79.5  # the fake camera loops vtest.mp4: 795 frames at 10 fps
FRAMES = "guardian_edge_detection_frames_total"
INFERRED = ("inferred_warmup", "inferred_motion", "inferred_tracking", "inferred_periodic")
SEGMENTS = "guardian_edge_video_segments_total"


def inferences(detector: EdgeProcess) -> float:
    try:
        text = detector.metrics()
    except httpx.HTTPError:
        return 0.0  # not serving yet
    return sum(sum_samples(text, FRAMES, outcome=o) for o in INFERRED)


def _aware(value: datetime | None) -> datetime:
    # Asked only of columns that must be set by then (an ended event's end_at, a clip's span).
    assert value is not None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _events(sessions) -> list[EventRow]:
    return list(EventStore(sessions).query(camera="campus", limit=10_000))


def _clip_facts(path) -> tuple[str, float, int]:
    """(codec, duration from the packets' own timestamps, frames decoded) read back with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first = last = None
        decoded = 0
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            first = packet.pts if first is None else min(first, packet.pts)
            end = packet.pts + (packet.duration or 0)
            last = end if last is None else max(last, end)
            decoded += len(packet.decode())
        assert first is not None and last is not None and stream.time_base is not None
        return stream.codec_context.name, float((last - first) * stream.time_base), decoded


def _is_jpeg(path) -> tuple[int, int]:
    with Image.open(path) as img:
        assert img.format == "JPEG", path
        img.load()  # decodes the whole image
        return img.size


def test_recorder_and_detector_turn_the_footage_into_events_with_snapshots_and_clips(
    tmp_path, fake_camera, model_store
):
    config = write_edge_config(tmp_path, fake_camera.url(), model_store.root)
    recorder = EdgeProcess("recorder", config, tmp_path).start()
    detector = EdgeProcess("detector", config, tmp_path).start()
    procs = (recorder, detector, fake_camera)
    try:
        wait_for(lambda: detector.metric(FRAMES) > 0, 60, "the detector's first frame", procs=procs)
        first_frame_at = datetime.now(UTC)
        # A full loop of the footage through the detector.
        deadline = time.monotonic() + LOOP_S + 1
        wait_for(lambda: time.monotonic() >= deadline, LOOP_S + 5, "a full loop of the footage", procs=procs)
        loop_end = first_frame_at + timedelta(seconds=LOOP_S)
        engine, sessions = open_database(tmp_path / "data" / "edge.db")

        def in_loop() -> list[EventRow]:
            return [e for e in _events(sessions) if first_frame_at <= _aware(e.start_at) <= loop_end]

        # Every person event of the loop ends (4 s unseen) and gets its clip once its post-roll has been
        # recorded and indexed (segments of 4 s): well within 45 s on a quiet machine; the wait allows a
        # loaded CI box (it bounds waiting, it measures nothing).
        wait_for(lambda: all(e.ended and e.clip_ref for e in in_loop() if e.label == "person"), 150,
                 "the loop's person events to end and get their clips", interval=1.0, procs=procs)
        vehicle_detections = sum(detector.metric("guardian_edge_detection_detections_total", label=label)
                                 for label in ("car", "truck"))
        segments_indexed = recorder.metric(SEGMENTS, camera="campus")
        assert detector.stop() == 0, detector.log()[-3000:]
        assert recorder.stop() == 0, recorder.log()[-3000:]
    finally:
        for p in (recorder, detector):
            if p.alive():
                p.kill()
    assert "Traceback" not in detector.log() + recorder.log()
    data = tmp_path / "data"
    events = _events(sessions)
    people = [e for e in in_loop() if e.label == "person"]
    # At info, as shipped, the events and their clips leave no line in the journal that is shipped to the
    # operator (#23: every passer-by would be a line there); they are in the database.
    per_event = [line for line in (detector.log() + recorder.log()).splitlines()
                 if '"event_id"' in line or "clip_assembled" in line]
    assert people and per_event == [], per_event[:3]
    # About a dozen different walkers cross the campus in the 79.5 s clip (pairs, groups, a few
    # re-entering). At least 5: several, not one long blob; at most 40: fragmentation of a walker into
    # 2-3 tracks behind the trees is tolerated, and it is still far from one event per analysed frame
    # (~400 frames at 5 fps). The same bound as the offline footage test (test_pipeline.py).
    assert 5 <= len(people) <= 40, len(people)
    recording = VideoStore(data, sessions).segments("campus")
    assert len(recording) >= 15 and segments_indexed >= 15  # ~100 s in 4 s segments
    with sessions() as s:
        clips = {c.path: c for c in s.query(Clip)}  # assembled clips are indexed for retention
    for event in people:
        assert event.ended and event.hits >= 3 and event.max_score >= 0.5
        assert _aware(event.end_at) >= _aware(event.start_at)
        assert len(event.track) >= 3
        assert _is_jpeg(data / event.snapshot_ref) == (768, 576)
        thumb_w, _ = _is_jpeg(data / event.thumbnail_ref)
        assert 0 < thumb_w <= 320
        codec, duration, frames = _clip_facts(data / event.clip_ref)
        assert codec == "h264" and frames > 0
        assert abs(duration - event.clip_duration_s) < 0.05
        # The clip spans the event plus pre-roll (3 s) and post-roll (3 s), as far as it was recorded.
        # Clips are cut at keyframes (every 2 s in this footage), so each end may move by up to half a
        # GOP, and the recorder and the detector date frames independently: the detector anchors the
        # stream's clock on its connection, the recorder per segment (each segment at min(arrival - pts)),
        # so the two ends, in different segments, can each be off by up to ~0.5 s on their own (seen: a
        # clip 2.6 s shorter than its span, 1.6 s at the start and 1.0 s at the end). Per end: 1.0 + 0.5 s.
        # Whatever the cut, the whole event is in (checked below).
        # As far as it was recorded: the test camera ends its stream at the end of the loop and the
        # recorder reconnects, which leaves a gap of a few seconds in the footage.
        # A gap between segments inside the span (the recorder reconnecting) is not in the clip either:
        # what is expected is the footage recorded within the span.
        span_start, span_end = _aware(event.clip_start).timestamp(), _aware(event.clip_end).timestamp()
        covering = [seg for seg in recording if seg.end_ts > span_start and seg.start_ts < span_end]
        expected = sum(min(span_end, seg.end_ts) - max(span_start, seg.start_ts) for seg in covering)
        assert abs(duration - expected) <= 2 * (1.0 + 0.5), (duration, expected, event.id)
        clip = clips[event.clip_ref]
        assert clip.start_ts <= _aware(event.start_at).timestamp() + 0.5, event.id
        assert clip.end_ts >= _aware(event.end_at).timestamp() - 0.5, event.id
    # One outbox row per event (every label), holding the event's latest state.
    with sessions() as s:
        rows = s.query(OutboxItem).filter(OutboxItem.kind == int(OutboxKind.EVENT)).all()
    assert len(rows) == len(events)
    by_id = {e.id: e for e in events}
    for row in rows:
        msg = uplink_pb2.Event.FromString(row.payload)
        assert msg.event_id in by_id and msg.label == by_id[msg.event_id].label
        if by_id[msg.event_id].clip_ref:
            assert msg.clip_ref == by_id[msg.event_id].clip_ref and msg.ended
    # The parked van (truck ~0.39) and car (~0.38) are detected at the 0.3 threshold, and as parked
    # vehicles: a vehicle event whose box hardly moves.
    assert vehicle_detections > 0
    vehicles = [e for e in events if e.label in ("car", "truck")]
    assert vehicles, "no vehicle event"

    def drift(e: EventRow) -> float:
        centres = [((p[1] + p[3]) / 2, (p[2] + p[4]) / 2) for p in e.track]
        xs, ys = zip(*centres, strict=True)
        return max(max(xs) - min(xs), max(ys) - min(ys))

    assert min(drift(e) for e in vehicles) < 0.05, [(e.label, drift(e)) for e in vehicles]
    engine.dispose()


def test_killing_the_detector_never_stops_recording_and_a_restart_brings_detection_back(
    tmp_path, fake_camera, model_store
):
    config = write_edge_config(tmp_path, fake_camera.url(), model_store.root)
    recorder = EdgeProcess("recorder", config, tmp_path).start()
    detector = EdgeProcess("detector", config, tmp_path).start()
    restarted: EdgeProcess | None = None
    try:
        wait_for(lambda: inferences(detector) > 0, 60, "the detector's first inferences", procs=(recorder, detector, fake_camera))
        wait_for(lambda: recorder.metric(SEGMENTS, camera="campus") >= 1, 30, "a first segment", procs=(recorder, fake_camera))
        engine, sessions = open_database(tmp_path / "data" / "edge.db")
        store = VideoStore(tmp_path / "data", sessions)

        detector.kill()  # kill -9: no clean-up of any kind
        killed_at = time.time()
        indexed = len(store.segments("campus"))
        packets = recorder.metric("guardian_edge_video_packets_total", camera="campus")
        # Recording goes on: new segments are written and indexed while no detector runs.
        wait_for(lambda: len(store.segments("campus")) >= indexed + 3, 30,
                 "three more segments after the detector died", procs=(recorder, fake_camera))
        assert recorder.metric("guardian_edge_video_packets_total", camera="campus") > packets
        assert recorder.metric("guardian_edge_video_streaming", camera="campus") == 1
        newest = store.segments("campus")[-1]
        assert newest.start_ts > killed_at and store.absolute(newest.path).is_file()

        restarted = EdgeProcess("detector", config, tmp_path).start()
        restarted_at = datetime.now(UTC)
        procs = (recorder, restarted, fake_camera)
        wait_for(lambda: inferences(restarted) > 0, 60, "inferences after the restart", procs=procs)
        wait_for(lambda: restarted.metric("guardian_edge_detection_detections_total", label="person") > 0, 60,
                 "person detections after the restart", procs=procs)
        wait_for(lambda: any(_aware(e.start_at) >= restarted_at and e.label == "person" for e in _events(sessions)),
                 60, "a new person event after the restart", procs=procs)
        assert restarted.stop() == 0, restarted.log()[-3000:]
        assert recorder.stop() == 0, recorder.log()[-3000:]
        engine.dispose()
    finally:
        for p in (recorder, detector, restarted):
            if p is not None and p.alive():
                p.kill()


def test_events_left_open_by_a_killed_detector_are_ended_by_the_next_run_and_queued_with_their_end(
    tmp_path, fake_camera, model_store
):
    config = write_edge_config(tmp_path, fake_camera.url(), model_store.root)
    detector = EdgeProcess("detector", config, tmp_path).start()
    restarted: EdgeProcess | None = None
    engine, sessions = open_database(tmp_path / "data" / "edge.db")
    try:
        # People walk through the campus footage all the time: wait for events that are open, then kill.
        wait_for(lambda: sum(1 for e in _events(sessions) if not e.ended) >= 2, 90, "two open events",
                 procs=(detector, fake_camera))
        detector.kill()  # kill -9 mid-event: its tracks die with it, no end is written
        left = {e.id: e for e in _events(sessions) if not e.ended}
        assert left
        with sessions() as session:
            queued = {o.key: uplink_pb2.Event.FromString(o.payload) for o in session.query(OutboxItem)
                      .filter(OutboxItem.kind == OutboxKind.EVENT, OutboxItem.key.in_(list(left)))}
        assert set(queued) == set(left) and not any(m.ended for m in queued.values())

        restarted = EdgeProcess("detector", config, tmp_path).start()
        wait_for(lambda: "leftover_event_closed" in restarted.log(), 60, "the leftovers closed",
                 procs=(restarted, fake_camera))
        after = {e.id: e for e in _events(sessions) if e.id in left}
        still_open = [i for i, e in after.items() if not e.ended]
        with sessions() as session:
            queued = {o.key: uplink_pb2.Event.FromString(o.payload) for o in session.query(OutboxItem)
                      .filter(OutboxItem.kind == OutboxKind.EVENT, OutboxItem.key.in_(list(left)))}
        print(f"events left open by the kill: {len(left)}; open after the restart: {len(still_open)}; "
              f"ends queued: {sum(1 for m in queued.values() if m.ended and m.HasField('end'))}")
        assert still_open == []
        for event_id, row in after.items():
            last_seen = datetime.fromtimestamp(row.track[-1][0], UTC) if row.track else _aware(row.start_at)
            assert _aware(row.end_at) == max(_aware(row.start_at), last_seen)
            msg = queued[event_id]  # the end travels like every update: the outbox row now says so
            assert msg.ended and msg.end.ToDatetime(UTC) == _aware(row.end_at)
        closed_log = [line for line in restarted.log().splitlines() if "leftover_event_closed" in line]
        assert len(closed_log) == len(left)
        assert restarted.stop() == 0, restarted.log()[-3000:]
    finally:
        engine.dispose()
        for p in (detector, restarted):
            if p is not None and p.alive():
                p.kill()
