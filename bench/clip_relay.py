"""Clip time-to-first-byte and throughput through the relay, against reading the same file on the edge.

Real processes on loopback (tunnel.mode = "tls", the demo mode): a relay (``guardian-relay run``) and an
edge uplink (``guardian-edge uplink run``) enrolled with a bootstrap token; the clip is an event's file
in the edge's events table. Measured in the same run:

- **through the relay**: HTTPS GET ``/media/v1/events/{id}/clip.mp4`` with a clip token, one kept-alive
  connection like a browser's; TTFB = request sent → first body byte of ``Range: bytes=0-`` (what a
  ``<video>`` asks first) and of a seek (``bytes=<middle>-``); throughput = full GETs.
- **baseline, direct read**: open + read of the same file on the edge (page cache warm), 256 KiB reads.
- **reference, EdgeMedia direct**: the edge's gRPC stream read without the relay (mutual TLS, the
  relay's own credentials), i.e. the hop the relay adds is HTTPS out.

Targets (issue 7): TTFB p95 ≤ 150 ms; relay throughput ≥ 50 % of the baseline. Prints figures; never
fails on them.

    .venv/bin/python bench/clip_relay.py [--size-mb 16] [--ttfb-runs 60] [--runs 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a file (the README's way), the test labs live in tests/


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def direct_read(path: Path, chunk: int = 256 * 1024) -> tuple[float, float]:
    """(seconds to the first chunk, seconds for the whole file)."""
    start = time.perf_counter()
    with path.open("rb") as handle:
        first = handle.read(chunk)
        ttfb = time.perf_counter() - start
        while handle.read(chunk):
            pass
    assert first
    return ttfb, time.perf_counter() - start


def relay_get(client: httpx.Client, url: str, token: str, range_header: str | None) -> tuple[float, float, int]:
    headers = {"Range": range_header} if range_header else {}
    start = time.perf_counter()
    ttfb = 0.0
    size = 0
    with client.stream("GET", url, params={"token": token}, headers=headers) as response:
        assert response.status_code in (200, 206), response.status_code
        for data in response.iter_raw(256 * 1024):
            if not size:
                ttfb = time.perf_counter() - start
            size += len(data)
    return ttfb, time.perf_counter() - start, size


def edge_direct(stack, event_id: str, runs: int) -> list[float]:
    """Seconds per full clip from the EdgeMedia server itself (no relay), with the relay's credentials."""
    import grpc

    from agents.relay.media import EdgeMediaClient
    from agents.relay.pki import DeviceCA

    identity = DeviceCA(stack.device_ca, stack.device_ca_key).relay_client_identity()
    creds = grpc.ssl_channel_credentials(identity.ca, identity.private_key, identity.certificate)

    async def main() -> list[float]:
        client = EdgeMediaClient(stack.media_port, creds)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            async for _chunk in client.fetch(stack.device_address, event_id):
                pass
            times.append(time.perf_counter() - start)
        await client.close()
        return times

    return asyncio.run(main())


def main() -> None:
    from tests.relay.tlsstack import TlsStack, wait_for

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=16.0, help="clip size (an 18 s event clip is 2–6 MB)")
    parser.add_argument("--ttfb-runs", type=int, default=60)
    parser.add_argument("--runs", type=int, default=8, help="full transfers per path")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clip-relay-") as tmp:
        stack = TlsStack(Path(tmp))
        try:
            stack.start_relay()
            result = stack.enrol()
            assert result.returncode == 0, result.stderr
            clip = os.urandom(int(args.size_mb * 1024 * 1024))
            event_id = stack.add_event(clip)
            stack.start_edge()
            wait_for(lambda: event_id in stack.relay_events(), 30, "the event at the relay")
            path = stack.clip_path(event_id)
            url = stack.media_url(event_id)
            token = stack.clip_token(event_id, ttl=300)
            ctx = ssl.create_default_context(cafile=str(stack.ca_cert))
            size = len(clip)

            with httpx.Client(verify=ctx, timeout=60) as client:
                relay_get(client, url, token, "bytes=0-0")  # warm: connection, TLS, gRPC channel
                direct_read(path)
                ttfb_first, ttfb_seek, base_ttfb = [], [], []
                for i in range(args.ttfb_runs):
                    ttfb_first.append(relay_get(client, url, token, "bytes=0-65535")[0])
                    ttfb_seek.append(relay_get(client, url, token, f"bytes={(size // 2 + i * 4096)}-{size // 2 + i * 4096 + 65535}")[0])
                    base_ttfb.append(direct_read(path)[0])
                # Cold connection TTFB as well (a new TLS handshake each time, as after a pause).
                cold = []
                for _ in range(min(20, args.ttfb_runs)):
                    with httpx.Client(verify=ctx, timeout=60) as fresh:
                        cold.append(relay_get(fresh, url, token, "bytes=0-")[0])
                relay_full, base_full = [], []
                for _ in range(args.runs):
                    _t, total, got = relay_get(client, url, token, None)
                    assert got == size
                    relay_full.append(total)
                    base_full.append(direct_read(path)[1])
            grpc_full = edge_direct(stack, event_id, args.runs)
        finally:
            stack.close()

    mb = size / 1e6
    def ms(xs: list[float], q: float) -> float:
        return pct(xs, q) * 1000

    relay_tp = mb / statistics.median(relay_full)
    base_tp = mb / statistics.median(base_full)
    grpc_tp = mb / statistics.median(grpc_full)
    print(f"clip: {mb:.1f} MB, loopback, tls mode (relay ↔ edge mutual TLS, browser ↔ relay HTTPS), "
          f"{os.cpu_count()} cores shared by relay, edge and client")
    print(f"TTFB through relay, warm connection, bytes=0-  : p50 {ms(ttfb_first, .5):6.1f} ms  p95 {ms(ttfb_first, .95):6.1f} ms  (n={len(ttfb_first)})")
    print(f"TTFB through relay, warm connection, seek     : p50 {ms(ttfb_seek, .5):6.1f} ms  p95 {ms(ttfb_seek, .95):6.1f} ms  (n={len(ttfb_seek)})")
    print(f"TTFB through relay, new TLS connection        : p50 {ms(cold, .5):6.1f} ms  p95 {ms(cold, .95):6.1f} ms  (n={len(cold)})")
    print(f"TTFB baseline, direct read on the edge        : p50 {ms(base_ttfb, .5):6.3f} ms  p95 {ms(base_ttfb, .95):6.3f} ms")
    print(f"throughput through relay (full GET)           : {relay_tp:8.1f} MB/s  (median of {len(relay_full)})")
    print(f"throughput EdgeMedia gRPC direct (no relay)   : {grpc_tp:8.1f} MB/s")
    print(f"throughput baseline, direct read (page cache) : {base_tp:8.1f} MB/s")
    print(f"relay / direct read = {100 * relay_tp / base_tp:.1f} %   relay / EdgeMedia direct = {100 * relay_tp / grpc_tp:.1f} %")
    print(f"targets: TTFB p95 ≤ 150 ms → {'met' if max(ms(ttfb_first, .95), ms(ttfb_seek, .95)) <= 150 else 'NOT met'} (warm); "
          f"≥ 50 % of baseline → {'met' if relay_tp >= 0.5 * base_tp else 'NOT met'}")


if __name__ == "__main__":
    main()
