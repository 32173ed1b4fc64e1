"""Sustained events/s through the edge outbox and the tunnel, and catch-up time for a backlog.

    .venv/bin/python bench/uplink_throughput.py [--backlog 100000] [--live 20000]

1. live: the edge is connected; a producer commits ``--live`` events (100 per transaction) as fast as
   it can; measured until the relay has stored them all.
2. catch-up: the relay is stopped while ``--backlog`` events queue on the edge; then the relay starts
   and the time until all are stored at the relay (and the outbox is empty) is measured.
Real processes in two network namespaces over wireguard-go (tests/relay/netlab.py); cloud forwarding
off so the figure is the edge → relay path. Needs root, wireguard-go.

Baseline, same run, same tunnel: a bare gRPC bidirectional stream that echoes ``--live`` messages of an
event's size (no outbox, no database, no acks kept): the transport's ceiling for this path.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.relay.netlab import PYTHON, RELAY_TUNNEL, Lab, make_event, wait_for  # noqa: E402

STREAM_ECHO_SERVER = """
import grpc, sys
from concurrent import futures
ident = lambda b: b
server = grpc.server(futures.ThreadPoolExecutor(4))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo",
    {"Stream": grpc.stream_stream_rpc_method_handler(lambda it, ctx: it, ident, ident)}),))
server.add_insecure_port(sys.argv[1]); server.start(); server.wait_for_termination()
"""
STREAM_ECHO_CLIENT = """
import grpc, sys, time, json
channel = grpc.insecure_channel(sys.argv[1])
stream = channel.stream_stream("/bench.Echo/Stream", request_serializer=lambda b: b, response_deserializer=lambda b: b)
grpc.channel_ready_future(channel).result(timeout=30)
count, payload = int(sys.argv[2]), b"x" * int(sys.argv[3])
for _ in stream(iter([payload] * 100)): pass
start = time.perf_counter()
got = sum(1 for _ in stream(iter([payload] * count)))
print(json.dumps({"messages": got, "seconds": time.perf_counter() - start}))
"""


def stream_baseline(lab: Lab, count: int, size: int) -> dict[str, float]:
    """Echo ``count`` messages of ``size`` bytes over one gRPC stream through the lab's tunnel."""
    address = f"{RELAY_TUNNEL}:50098"
    server = subprocess.Popen(["ip", "netns", "exec", lab.ns_relay, PYTHON, "-c", STREAM_ECHO_SERVER, address])
    try:
        wait_for(lambda: lab.port_open(lab.ns_edge, RELAY_TUNNEL, 50098), 30, "the echo server")
        out = subprocess.run(
            ["ip", "netns", "exec", lab.ns_edge, PYTHON, "-c", STREAM_ECHO_CLIENT, address, str(count), str(size)],
            capture_output=True, text=True, check=True, timeout=600,
        ).stdout
        return json.loads(out)
    finally:
        server.kill()
        server.wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--live", type=int, default=20_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    with Lab(work, cloud=False, edge_overrides={"uplink": {"telemetry_interval_s": 30.0}}) as lab:
        lab.start_relay()
        assert lab.enrol(lab.token()).returncode == 0
        lab.start_edge()
        lab.enqueue_events(10)
        wait_for(lambda: lab.relay_event_count() == 10, 60, "warm-up")

        start = time.perf_counter()
        lab.enqueue_events(args.live, batch=100)
        produced = time.perf_counter() - start
        wait_for(lambda: lab.relay_event_count() == args.live + 10, 600, "live events", interval=0.05)
        live_total = time.perf_counter() - start

        lab.stop("relay")
        start = time.perf_counter()
        lab.enqueue_events(args.backlog, batch=1000)
        queued = time.perf_counter() - start
        total = args.live + 10 + args.backlog
        start = time.perf_counter()
        lab.start_relay()
        wait_for(lambda: lab.relay_event_count() == total, 1200, "backlog", interval=0.2)
        catch_up = time.perf_counter() - start
        wait_for(lambda: lab.outbox_length() == 0, 120, "outbox empty", interval=0.2)
        drained = time.perf_counter() - start
        distinct = lab.relay_query("SELECT COUNT(DISTINCT event_id) FROM events")[0][0]
        size = len(make_event().SerializeToString())
        baseline = stream_baseline(lab, args.live, size)

    print("uplink throughput (wireguard-go tunnel between namespaces, 2 cores shared by producer, edge, relay)")
    print(f"live: {args.live} events produced in {produced:.1f} s ({args.live / produced:,.0f}/s committed); "
          f"all stored at the relay after {live_total:.1f} s -> {args.live / live_total:,.0f} events/s end to end")
    print(f"backlog: {args.backlog} events queued in {queued:.1f} s while the relay was down")
    print(f"catch-up: relay start -> all {args.backlog} stored in {catch_up:.1f} s "
          f"(incl. relay start-up and edge reconnect backoff) -> {args.backlog / catch_up:,.0f} events/s; "
          f"outbox empty after {drained:.1f} s; distinct events at relay {distinct} of {total}")
    rate = baseline["messages"] / baseline["seconds"]
    print(f"baseline, same run and tunnel: bare gRPC stream echo of {int(baseline['messages'])} messages of "
          f"{size} B in {baseline['seconds']:.1f} s -> {rate:,.0f} messages/s; end to end live = "
          f"{100 * args.live / live_total / rate:.0f} % of it, catch-up = {100 * args.backlog / catch_up / rate:.0f} %")
    return 0


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the lab is torn down
    sys.exit(main())
