"""Enrolment, then events flow over gRPC inside the WireGuard tunnel — and only inside it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import uuid

import pytest

from tests.relay.netlab import (
    EDGE_PUBLIC,
    ENROL_PORT,
    PYTHON,
    RELAY_PUBLIC,
    RELAY_TUNNEL,
    ROOT,
    TENANT,
    UPLINK_PORT,
    Lab,
    wait_for,
)

pytestmark = pytest.mark.slow

# What an EventSummary may carry (proto3 JSON names); anything else reaching the cloud is a leak.
# What the cloud may learn of an event (issue #20: labels, zones, times, severity); nothing from the pictures.
SUMMARY_FIELDS = {"eventId", "deviceId", "camera", "label", "start", "end", "confidence", "hasClip", "zones", "severity",
                  "reviewItem"}
EDGE_ONLY = ("box", "track", "score", "snapshot", "clip_ref", "clipRef", "xMin", "secret-snapshot", "secret-clip")


def _running_lab(make_lab) -> Lab:
    lab = make_lab()
    lab.start_cloud()
    lab.start_relay()
    result = lab.enrol(lab.token())
    assert result.returncode == 0, result.stderr
    lab.start_edge()
    return lab


def test_events_flow_through_the_tunnel_only(make_lab) -> None:
    lab = _running_lab(make_lab)
    ids = lab.enqueue_events(50)
    wait_for(lambda: lab.relay_event_count() == 50, 60, "50 events at the relay")

    # The relay knows the device by its tunnel address, and stored every event under that device.
    devices = lab.relay_query("SELECT device_id, tunnel_address, revoked_at FROM devices")
    assert len(devices) == 1 and devices[0][1] == "10.77.0.2" and devices[0][2] is None
    held = lab.relay_query("SELECT event_id, device_id FROM events")
    assert {row[0] for row in held} == set(ids)
    assert {row[1] for row in held} == {devices[0][0]}
    wait_for(lambda: lab.outbox_length() == 0, 30, "the edge outbox to drain")

    # The uplink port answers on the tunnel address, and nowhere else: not on the relay's public
    # address (from the edge's side of the "internet", or even from the relay host itself).
    assert lab.port_open(lab.ns_edge, RELAY_TUNNEL, UPLINK_PORT)
    assert not lab.port_open(lab.ns_edge, RELAY_PUBLIC, UPLINK_PORT)
    assert not lab.port_open(lab.ns_relay, RELAY_PUBLIC, UPLINK_PORT)
    listening = subprocess.run(
        ["ip", "netns", "exec", lab.ns_relay, "ss", "-Hltn", f"sport = :{UPLINK_PORT}"],
        capture_output=True, text=True, check=True,
    ).stdout
    local = listening.split()[3]  # e.g. [::ffff:10.77.0.1]:50051 (gRPC uses a v4-mapped socket)
    assert local.replace("[::ffff:", "").replace("]", "") == f"{RELAY_TUNNEL}:{UPLINK_PORT}", listening

    # The tunnel is a real WireGuard session with a recent handshake.
    dump = subprocess.run(
        ["ip", "netns", "exec", lab.ns_edge, "wg", "show", lab.wg_edge, "latest-handshakes"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert len(dump) == 2 and int(dump[1]) > 0
    # And the edge's public address never appears as an uplink peer: identity is the tunnel address.
    assert EDGE_PUBLIC not in lab.log_tail("relay", 400)


def test_cloud_receives_only_the_privacy_minimised_summary(make_lab) -> None:
    lab = _running_lab(make_lab)
    ids = lab.enqueue_events(30)
    wait_for(lambda: lab.cloud_query("SELECT COUNT(*) FROM event_summaries")[0][0] == 30, 60, "30 summaries in the cloud")

    rows = lab.cloud_query("SELECT event_id, body FROM event_summaries")
    assert {r[0] for r in rows} == set(ids)
    for _event_id, body in rows:
        summary = json.loads(body)
        assert set(summary) <= SUMMARY_FIELDS, set(summary) - SUMMARY_FIELDS
        assert summary["confidence"] == "CONFIDENCE_HIGH" and summary["hasClip"] is True
    everything = " ".join(r[0] for r in lab.cloud_query("SELECT body FROM requests"))
    for needle in EDGE_ONLY:
        assert needle not in everything, needle

    # The relay, in contrast, holds the full metadata (boxes, scores, snapshot and clip refs).
    track, snapshot, score = lab.relay_query("SELECT track_json, snapshot_ref, max_score FROM events LIMIT 1")[0]
    assert json.loads(track)[0]["box"] and snapshot == "snap/secret-snapshot.jpg" and score > 0.8

    # Device health reaches the cloud too: telemetry → relay → healthy/degraded/offline.
    def reported() -> list[dict]:
        return [json.loads(b) for (b,) in lab.cloud_query("SELECT body FROM device_health")]

    health = wait_for(lambda: [h for h in reported() if h.get("status") in ("HEALTHY", "DEGRADED")], 30, "health")
    assert health[0]["deviceId"] == lab.relay_query("SELECT device_id FROM devices")[0][0]  # type: ignore[index]
    wait_for(lambda: lab.relay_query("SELECT COUNT(*) FROM telemetry")[0][0] >= 1, 30, "a telemetry sample")
    with_cameras = wait_for(lambda: [h for h in reported() if h.get("cameras")], 30, "health with camera states")
    assert with_cameras[-1]["cameras"][0]["camera"] == "front"  # type: ignore[index]


def test_relay_fetches_clip_ranges_from_the_edge_over_the_tunnel(make_lab) -> None:
    """The clip path through WireGuard: an event's clip in the edge's events table, fetched by the relay
    over the tunnel (EdgeMedia gRPC), and by a viewer from the relay's HTTPS media endpoint with a token."""
    from datetime import UTC, datetime, timedelta

    from agents.edge.db.tables import EventRow
    from agents.edge.events.store import EventStore
    from guardian.contracts import auth

    lab = _running_lab(make_lab)
    clip = bytes(range(256)) * 4000  # 1 MB, several chunks
    event_id = str(uuid.uuid4())
    ref = f"events/front/2026-01-01/{event_id}.mp4"
    (lab.edge_data / ref).parent.mkdir(parents=True)
    (lab.edge_data / ref).write_bytes(clip)
    engine, sessions = lab.edge_sessions()
    start = datetime.now(UTC)
    EventStore(sessions).save(EventRow(
        id=event_id, camera="front", label="person", model="m@1", start_at=start, end_at=start + timedelta(seconds=4),
        ended=True, max_score=0.9, mean_score=0.8, hits=9, snapshot_ref="", thumbnail_ref="", clip_ref=ref,
        clip_duration_s=4.0, track_json="[]",
    ))
    engine.dispose()
    wait_for(lambda: lab.relay_event_count() == 1, 60, "the event at the relay")
    device_id = lab.relay_query("SELECT device_id FROM devices")[0][0]
    token = auth.mint_clip_token(lab.token_key, tenant_id=TENANT, device_id=device_id, event_id=event_id,
                                   scopes=["clip"], relay_url=f"https://{RELAY_PUBLIC}:{ENROL_PORT}")
    script = f"""
import asyncio, hashlib, ssl, sys, httpx
from agents.relay.media import EdgeMediaClient
async def main():
    client = EdgeMediaClient(50052)
    data = b''; total = None
    async for chunk in client.fetch('10.77.0.2', {event_id!r}, offset=1000, length=300000):
        total = total or chunk.total_size; data += chunk.data
    sys.stdout.write(f"{{total}} {{len(data)}} {{hashlib.sha256(data).hexdigest()}}")
    try:
        async for _ in client.fetch('10.77.0.2', 'no-such-event'): pass
    except Exception as exc:
        sys.stdout.write(' ' + exc.code().name)
    await client.close()
asyncio.run(main())
ctx = ssl.create_default_context(cafile={str(lab.ca_cert)!r})
url = 'https://{RELAY_PUBLIC}:{ENROL_PORT}/media/v1/events/{event_id}/clip.mp4'
with httpx.Client(verify=ctx) as http:
    r = http.get(url, params={{'token': {token!r}}}, headers={{'Range': 'bytes=-1000'}})
    sys.stdout.write(f" {{r.status_code}} {{r.headers['content-range'].replace(' ', '_')}} {{hashlib.sha256(r.content).hexdigest()}}")
"""
    out = subprocess.run(
        ["ip", "netns", "exec", lab.ns_relay, PYTHON, "-c", script], check=False,
        capture_output=True, text=True, cwd=ROOT, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    total, length, digest, missing, status, content_range, tail = out.stdout.split()
    assert int(total) == len(clip) and int(length) == 300000
    assert digest == hashlib.sha256(clip[1000:301000]).hexdigest() and missing == "NOT_FOUND"
    assert (status, content_range) == ("206", f"bytes_{len(clip) - 1000}-{len(clip) - 1}/{len(clip)}")
    assert tail == hashlib.sha256(clip[-1000:]).hexdigest()
    # The media server is only on the tunnel: not on the edge's public address.
    assert not lab.port_open(lab.ns_relay, EDGE_PUBLIC, 50052)


def test_key_rotation_and_revocation(make_lab) -> None:
    lab = _running_lab(make_lab)
    lab.enqueue_events(5)
    wait_for(lambda: lab.relay_event_count() == 5, 60, "first events")
    (old_key,) = lab.relay_query("SELECT public_key FROM devices")[0]

    # Rotation: the edge makes a new key and announces it from inside the tunnel.
    rotated = subprocess.run(
        ["ip", "netns", "exec", lab.ns_edge, PYTHON, "-m", "agents.edge.cli", "enrol", "-c", str(lab.edge_config), "--rotate-key"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert rotated.returncode == 0, rotated.stderr
    (new_key,) = lab.relay_query("SELECT public_key FROM devices")[0]
    assert new_key != old_key
    lab.enqueue_events(5)
    wait_for(lambda: lab.relay_event_count() == 10, 90, "events after the key rotation")

    # Revocation (the operator's CLI against the relay's database): peer removed, stream cut, nothing more arrives.
    (device_id,) = lab.relay_query("SELECT device_id FROM devices")[0]
    revoked = subprocess.run(
        [PYTHON, "-m", "agents.relay.cli", "device", "revoke", device_id, "-c", str(lab.relay_config)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert revoked.returncode == 0, revoked.stderr
    wait_for(
        lambda: lab.wg_edge and "peer" not in subprocess.run(
            ["ip", "netns", "exec", lab.ns_relay, "wg", "show", lab.wg_relay], capture_output=True, text=True
        ).stdout,
        30,
        "the revoked peer to leave the relay's interface",
    )
    lab.enqueue_events(5)
    time.sleep(5)
    assert lab.relay_event_count() == 10
    assert not lab.port_open(lab.ns_edge, RELAY_TUNNEL, UPLINK_PORT)
