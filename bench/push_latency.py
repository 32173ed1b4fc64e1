"""Push latency: a relay's ingest POST of a new event until the push is delivered (decrypted) at the browser's
push service, beside the ingest request alone as the baseline, measured in the same run.

    .venv/bin/python bench/push_latency.py [--events 50] [--database-url URL] [--gap-ms 100]

The real cloud app under uvicorn (a thread of this process, as tests/cloud/servers.py runs it) on SQLite
(or ``--database-url``, e.g. a PostgreSQL), one tenant with a relay and one member with one subscribed
browser; the push service is the local RFC 8030 endpoint of the tests (tests/fakes/push_service.py), which
checks the VAPID JWT and decrypts each payload before it counts it as delivered. Events are posted one at a
time (``--gap-ms`` apart) as a relay does: the time from the start of the POST until the push service has
the decrypted message, p50/p95 over ``--events``; the baseline is the POST's own round trip. Detector →
ingest is the relay's and uplink's share (bench/event_latency.py); the issue's goal for detector → push is
p95 ≤ 2 s. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.api.main import create_app
from cloud.core.db import migrate
from cloud.core.webpush import generate_private_key
from guardian.contracts import auth
from tests.cloud import batches
from tests.cloud.conftest import RelayHandle, add_relay, make_settings, signup
from tests.cloud.servers import serve
from tests.fakes.push_service import push_service

DEVICE, CAMERA = "edge-bench", "porch"


def post_as_relay(http: httpx.Client, relay: RelayHandle, body: bytes) -> httpx.Response:
    path = "/api/v1/ingest"
    return http.post(path, content=body, headers={**relay.headers("POST", path, body), "Content-Type": "application/json"})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--gap-ms", type=float, default=100.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, push_service() as push:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'cloud.db'}"
        migrate(url)
        private, _public = generate_private_key()
        settings = make_settings(url, auth.generate_private_key(),
                                 push={"vapid_private_key": private, "contact": "mailto:bench@guardian.example.org",
                                       "endpoint_origins": [push.url]})
        app = create_app(settings)
        relay = add_relay(app, "relay-bench")
        with serve(app) as base, httpx.Client(base_url=base, timeout=30) as http:
            member = signup(http, f"bench-{time.time_ns()}@example.org", app=app)
            browser = push.browser()
            r = http.post("/api/v1/notifications/subscriptions", headers=member.auth, json=browser.subscription())
            r.raise_for_status()
            r = post_as_relay(http, relay, batches.batch(relay.id, healths=[batches.health(DEVICE, {CAMERA: "streaming"})]))
            r.raise_for_status()
            ingest_s: list[float] = []
            push_s: list[float] = []
            for _ in range(args.events):
                ev = batches.event(DEVICE, CAMERA, "person", datetime.now(UTC) - timedelta(seconds=1), zones=("gate",))
                body = batches.batch(relay.id, events=[ev])
                began = time.monotonic()
                r = post_as_relay(http, relay, body)
                ingest_s.append(time.monotonic() - began)
                r.raise_for_status()
                got = push.next(timeout=30)
                assert got.payload["event_id"] == ev.event_id, "pushes arrived out of order"
                push_s.append(got.at - began)
                time.sleep(args.gap_ms / 1000)
    if not push.refused.empty():
        print(f"push service refused some messages: {push.refused.get_nowait()}")
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"push latency, {args.events} events, {backend}, one subscribed browser (ms)")
    print(f"{'':30}{'p50':>10}{'p95':>10}{'max':>10}")
    for name, values in (("ingest POST (baseline)", ingest_s), ("ingest → push delivered", push_s)):
        print(f"{name:30}{statistics.median(values) * 1000:>10.1f}{percentile(values, 0.95) * 1000:>10.1f}"
              f"{max(values) * 1000:>10.1f}")
    print(f"push after the ingest answer, p50: {statistics.median([p - i for p, i in zip(push_s, ingest_s, strict=True)]) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
