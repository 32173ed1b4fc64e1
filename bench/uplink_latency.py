"""Event latency edge → relay → cloud-side endpoint through the WireGuard tunnel, against the bare
gRPC round trip over the same tunnel.

    .venv/bin/python bench/uplink_latency.py [--events 200]

Runs the real programs in two network namespaces (tests/relay/netlab.py): the edge uplink agent, the
relay, and the real cloud (``cloud.api``, SQLite, :mod:`tests.relay.cloud_real`: signed ingest, the same
code as production) on the relay's side. An event is committed to the edge outbox at t0; the relay
stamps ``received_at`` when it stores it and the cloud when its ingest stores the event (one host, one
clock).
The baseline is a minimal gRPC echo (a unary call with a small payload) between the same two tunnel
addresses. Prints p50/p95/max; needs root, wireguard-go.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guardian.contracts import auth  # noqa: E402
from tests.relay.cloud_real import cloud_settings, prepare  # noqa: E402
from tests.relay.netlab import ENROL_PORT, PYTHON, RELAY_ID, RELAY_PUBLIC, RELAY_TUNNEL, TENANT, Lab, wait_for  # noqa: E402

ECHO_SERVER = """
import grpc, sys
from concurrent import futures
ident = lambda b: b
server = grpc.server(futures.ThreadPoolExecutor(4))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo",
    {"Echo": grpc.unary_unary_rpc_method_handler(lambda req, ctx: req, ident, ident)}),))
server.add_insecure_port(sys.argv[1]); server.start(); server.wait_for_termination()
"""
ECHO_CLIENT = """
import grpc, sys, time, json
channel = grpc.insecure_channel(sys.argv[1])
echo = channel.unary_unary("/bench.Echo/Echo", request_serializer=lambda b: b, response_deserializer=lambda b: b)
grpc.channel_ready_future(channel).result(timeout=30)
payload = b"x" * 300
for _ in range(20): echo(payload)
out = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); echo(payload); out.append((time.perf_counter() - t) * 1000)
print(json.dumps(out))
"""


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def show(name: str, values: list[float]) -> None:
    print(f"{name:<38} n={len(values):<5} p50={pct(values, .5):7.2f} ms  p95={pct(values, .95):7.2f} ms  "
          f"max={max(values):7.2f} ms  mean={statistics.mean(values):7.2f} ms")


def utc_seconds(text: str) -> float:
    """A stored time (relay: ISO text; cloud on SQLite: naive UTC text) as a Unix time."""
    at = datetime.fromisoformat(text)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    import json

    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    with Lab(
        work,
        edge_overrides={"uplink": {"poll_interval_s": 0.005}},
        # the forwarder's idle pause is its own knob: keep it small for a latency run
        relay_overrides={"cloud": {"interval_s": 0.005}},
    ) as lab:
        # The real cloud: it trusts the lab's token key and knows the relay by its signing key.
        (work / "cloud").mkdir()
        cloud_db = work / "cloud" / "cloud.db"
        values = cloud_settings(cloud_db, lab.token_key)
        prepare(values, tenant_id=TENANT, relay_id=RELAY_ID,
                relay_public_key=auth.public_key_to_text(lab.relay_signing_key),
                relay_url=f"https://{RELAY_PUBLIC}:{ENROL_PORT}")
        lab.start_real_cloud(values)

        def cloud_rows(sql: str) -> list[tuple]:
            with sqlite3.connect(cloud_db, timeout=10) as db:
                return db.execute(sql).fetchall()

        def cloud_count() -> int:
            return int(cloud_rows("SELECT COUNT(*) FROM events")[0][0])

        lab.start_relay()
        assert lab.enrol(lab.token()).returncode == 0
        lab.start_edge()
        lab.enqueue_events(5)
        wait_for(lambda: cloud_count() >= 5, 60, "warm-up")

        from agents.edge.outbox import OutboxKind, enqueue
        from tests.relay.netlab import make_event

        engine, sessions = lab.edge_sessions()
        sent: dict[str, float] = {}
        for _ in range(args.events):
            event = make_event()
            with sessions() as session, session.begin():
                enqueue(session, OutboxKind.EVENT, event.event_id, event.SerializeToString())
            sent[event.event_id] = time.time()
            time.sleep(0.05)
        engine.dispose()
        wait_for(lambda: cloud_count() >= args.events + 5, 60, "all")
        to_relay, to_cloud = [], []
        for event_id, received in lab.relay_query("SELECT event_id, received_at FROM events"):
            if event_id in sent:
                to_relay.append((utc_seconds(received) - sent[event_id]) * 1000)
        for event_id, received in cloud_rows("SELECT id, received_at FROM events"):
            if event_id in sent:
                to_cloud.append((utc_seconds(received) - sent[event_id]) * 1000)

        server = subprocess.Popen(["ip", "netns", "exec", lab.ns_relay, PYTHON, "-c", ECHO_SERVER, f"{RELAY_TUNNEL}:50099"])
        try:
            time.sleep(1.5)
            out = subprocess.run(
                ["ip", "netns", "exec", lab.ns_edge, PYTHON, "-c", ECHO_CLIENT, f"{RELAY_TUNNEL}:50099", str(args.events)],
                capture_output=True, text=True, check=True, timeout=120,
            ).stdout
            baseline = json.loads(out)
        finally:
            server.kill()
            server.wait()

    print(f"uplink latency, {args.events} events one at a time (wireguard-go tunnel between namespaces, 2 cores)")
    show("baseline: bare gRPC round trip", baseline)
    show("edge outbox -> relay cache", to_relay)
    show("edge outbox -> relay -> cloud stored", to_cloud)
    print("(cloud: the real cloud.api ingest on SQLite beside the relay; the forwarder's idle pause 5 ms)")
    return 0


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the lab is torn down
    sys.exit(main())
