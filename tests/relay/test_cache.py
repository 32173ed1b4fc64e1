"""The relay's event cache stores an uplink batch set-wise and tells STORED, DUPLICATE and REJECTED apart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from agents.relay.cache import EventCache
from agents.relay.db import open_database
from agents.relay.db.tables import CachedEvent, Device
from guardian.contracts.edge.v1 import uplink_pb2
from tests.relay.netlab import make_event

S = uplink_pb2.Ack.Status


def _cache(tmp_path: Path) -> EventCache:
    _engine, sessions = open_database(tmp_path / "relay.db")
    with sessions() as s, s.begin():
        for n, device in enumerate(("edge-a", "edge-b")):
            s.add(Device(device_id=device, tenant_id="t", public_key=f"k{n}", tunnel_address=f"10.0.0.{n + 2}"))
    return EventCache(sessions, retention=timedelta(days=7), telemetry_retention=timedelta(days=1))


def _msg(body: uplink_pb2.Event | uplink_pb2.Telemetry | None, message_id: int) -> uplink_pb2.UplinkMessage:
    message = uplink_pb2.UplinkMessage(message_id=message_id)
    if isinstance(body, uplink_pb2.Event):
        message.event.CopyFrom(body)
    elif isinstance(body, uplink_pb2.Telemetry):
        message.telemetry.CopyFrom(body)
    return message


def test_a_batch_stores_new_replaces_changed_and_acks_repeats(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    held, theirs = make_event(ended=False), make_event()
    assert [r.status for r in cache.store("edge-a", [_msg(held, 1)])] == [S.STORED]
    assert [r.status for r in cache.store("edge-b", [_msg(theirs, 2)])] == [S.STORED]
    cache.mark_forwarded([(held.event_id, 0)])

    new = make_event()
    ended = uplink_pb2.Event()
    ended.CopyFrom(held)
    ended.ended = True
    ended.end.GetCurrentTime()
    quick = make_event(ended=False)
    quick_end = uplink_pb2.Event()
    quick_end.CopyFrom(quick)
    quick_end.ended = True
    batch = [
        _msg(new, 10),
        _msg(held, 11),  # resent, unchanged
        _msg(ended, 12),  # changed since it was stored
        _msg(theirs, 13),  # another device's id
        _msg(uplink_pb2.Event(camera="front"), 14),  # no id
        _msg(uplink_pb2.Telemetry(agent_version="9.9"), 15),
        _msg(None, 16),
        _msg(quick, 17),  # new, and updated again within the batch
        _msg(quick_end, 18),
        _msg(quick_end, 19),  # and repeated within the batch
        _msg(new, 20),
    ]
    results = cache.store("edge-a", batch)
    assert [r.status for r in results] == [
        S.STORED, S.DUPLICATE, S.STORED, S.REJECTED, S.REJECTED, S.STORED, S.REJECTED,
        S.STORED, S.STORED, S.DUPLICATE, S.DUPLICATE,
    ]
    assert results[3].reason == "event_id belongs to another device"

    assert cache.count() == 4 and cache.count("edge-a") == 3
    row = cache.get(held.event_id)
    assert row is not None and row.ended and row.version == 1 and row.forwarded_at is None  # forwarded again
    assert row.payload == ended.SerializeToString(deterministic=True)
    row = cache.get(quick.event_id)
    assert row is not None and row.ended and row.version == 1
    row = cache.get(theirs.event_id)
    assert row is not None and row.device_id == "edge-b" and row.version == 0  # untouched
    with cache.sessions() as s:
        device = s.get(Device, "edge-a")
        assert device is not None and device.agent_version == "9.9" and device.last_telemetry is not None
        assert s.query(CachedEvent).filter(CachedEvent.device_id == "edge-a").count() == 3
