"""The uplink client against the relay's real servicer and cache (in one process, plain localhost gRPC):
batches are stored in one transaction, acked after the commit, and the acked rows deleted set-wise."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

from agents.edge import outbox
from agents.edge.db import open_database as open_edge
from agents.edge.outbox import OutboxKind
from agents.edge.uplink.client import UplinkClient
from agents.edge.uplink.config import UplinkSettings
from agents.relay.cache import EventCache
from agents.relay.db import open_database as open_relay
from agents.relay.db.tables import Device
from agents.relay.grpc_server import UplinkService, make_server
from guardian.runtime.metrics import AgentMetrics
from tests.relay.netlab import make_event


async def _until(predicate, timeout: float = 60.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def test_every_event_arrives_once_and_the_outbox_empties(tmp_path: Path) -> None:
    _e, edge = open_edge(tmp_path / "edge.db")
    _r, relay = open_relay(tmp_path / "relay.db")
    with relay() as s, s.begin():
        s.add(Device(device_id="edge-a", tenant_id="t", public_key="k", tunnel_address="10.0.0.2"))
    cache = EventCache(relay, timedelta(days=7), timedelta(days=1))
    events = [make_event(ended=False) for _ in range(3000)]
    with edge() as s, s.begin():
        for event in events:
            outbox.enqueue(s, OutboxKind.EVENT, event.event_id, event.SerializeToString())

    def outbox_empty() -> bool:
        with edge() as s:
            return outbox.length(s, OutboxKind.EVENT) == 0

    async def main() -> None:
        server = make_server(UplinkService(cache, lambda _ctx: "edge-a", AgentMetrics("relay"), max_batch=256))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        settings = UplinkSettings(max_in_flight=512, batch_size=128, poll_interval_s=0.01, heartbeat_interval_s=1.0)
        client = UplinkClient(edge, f"127.0.0.1:{port}", settings, AgentMetrics("edge"))
        task = asyncio.create_task(client.run())
        try:
            await _until(lambda: cache.count() == 3000 and outbox_empty())
            # The first event ends after it was delivered: queued again, sent again, replaced at the relay.
            events[0].ended = True
            with edge() as s, s.begin():
                outbox.enqueue(s, OutboxKind.EVENT, events[0].event_id, events[0].SerializeToString())
            await _until(lambda: (row := cache.get(events[0].event_id)) is not None and row.ended and outbox_empty())
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await server.stop(None)

    asyncio.run(main())
    assert cache.count() == 3000 and cache.count("edge-a") == 3000
    assert cache.get(events[0].event_id).version == 1  # type: ignore[union-attr]


def test_an_event_updated_while_in_flight_is_sent_again_on_the_same_stream(tmp_path: Path) -> None:
    """The version queued while the older one waits for its ack goes out as soon as that ack is in, on the
    same stream (not at the next reconnect). The ack is held back the way a busy relay holds it: its
    database write lock is taken, so the relay's store of the batch waits."""
    _e, edge = open_edge(tmp_path / "edge.db")
    _r, relay = open_relay(tmp_path / "relay.db")
    with relay() as s, s.begin():
        s.add(Device(device_id="edge-a", tenant_id="t", public_key="k", tunnel_address="10.0.0.2"))
    cache = EventCache(relay, timedelta(days=7), timedelta(days=1))
    event = make_event(ended=False)
    with edge() as s, s.begin():
        outbox.enqueue(s, OutboxKind.EVENT, event.event_id, event.SerializeToString())
    metrics = AgentMetrics("edge")

    def sample(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(f"guardian_edge_uplink_{name}", labels) or 0.0

    def delivered_ended() -> bool:
        row = cache.get(event.event_id)
        with edge() as s:
            return row is not None and row.ended and outbox.length(s, OutboxKind.EVENT) == 0

    async def main() -> None:
        server = make_server(UplinkService(cache, lambda _ctx: "edge-a", AgentMetrics("relay"), max_batch=256))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        # The relay's writer waits up to its busy_timeout (10 s) for this lock: no ack until it is let go.
        busy = sqlite3.connect(tmp_path / "relay.db", isolation_level=None)
        busy.execute("BEGIN IMMEDIATE")
        settings = UplinkSettings(poll_interval_s=0.01, heartbeat_interval_s=1.0, ack_timeout_s=60.0)
        client = UplinkClient(edge, f"127.0.0.1:{port}", settings, metrics)
        task = asyncio.create_task(client.run())
        try:
            await _until(lambda: sample("sent_total", kind="event") == 1)  # the open version is in flight
            event.ended = True
            with edge() as s, s.begin():
                queued = outbox.enqueue(s, OutboxKind.EVENT, event.event_id, event.SerializeToString())
            assert queued.generation == 1  # the same row, replaced while in flight
            busy.rollback()  # the relay stores the open version and acks it
            await _until(delivered_ended, timeout=30)
            assert sample("sent_total", kind="event") == 2
            assert sample("reconnects_total") == 1  # one stream from start to end
        finally:
            busy.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await server.stop(None)

    asyncio.run(main())
    assert cache.get(event.event_id).version == 1  # type: ignore[union-attr]
