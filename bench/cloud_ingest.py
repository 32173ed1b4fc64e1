"""Benchmark: cloud ingestion rate and timeline query latency on a real PostgreSQL.

Starts its own PostgreSQL 15 (initdb as the postgres user into a temp dir, a free port; stopped at the
end), migrates it with the real Alembic migrations, then measures:

1. ingestion — signed ``POST /api/v1/ingest`` batches (proto3 JSON, 500 events each) through the whole
   ASGI app in this process (signature check, replay check, parse, validation, upsert, NOTIFY), in
   events/s; baseline: the same rows with a bare ``executemany`` INSERT (psycopg, no app);
2. timeline — 1,000,000 events across 100 tenants loaded with COPY; newest-first first page
   (limit 50) and a filtered page (camera + label) and a cursor page, timed as
   (a) the API's own query (``cloud.services.timeline`` through SQLAlchemy), (b) the raw SQL of the same query
   through psycopg (baseline), (c) ``GET /api/v1/events`` through the app (auth, JSON) — p50/p95.

    .venv/bin/python bench/cloud_ingest.py [--events 1000000] [--tenants 100] [--ingest 20000]

Figures, never assertions: compare the columns of one run, on one machine.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from cloud.api.main import create_app  # noqa: E402
from cloud.core.config import CloudSettings  # noqa: E402
from cloud.core.db import migrate  # noqa: E402
from cloud.core.security import make_access_token  # noqa: E402
from cloud.services import timeline  # noqa: E402
from cloud.tables import Relay, Tenant, User  # noqa: E402
from guardian.contracts import auth  # noqa: E402
from guardian.contracts.cloud.v1 import ingest_pb2  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRET = "bench-secret-" + uuid.uuid4().hex
CAMERAS = ["porch", "yard", "garage", "drive"]
LABELS = ["person", "car", "cat", "dog", "bicycle"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Postgres:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="guardian-bench-pg-"))
        self.data, sock = self.base / "data", self.base / "sock"
        sock.mkdir()
        shutil.chown(self.base, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*self.run_as, str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-E", "UTF8",
                        "--locale=C.UTF-8"], check=True, capture_output=True)
        self.port = free_port()
        # Durable defaults (fsync on); a little more memory than the tiny default for the 1M-row table.
        opts = f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1 -c shared_buffers=256MB -c max_wal_size=2GB"
        subprocess.run([*self.run_as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                        str(self.base / "log"), "-o", opts, "start"], check=True, capture_output=True)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/bench"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/bench"

    def stop(self) -> None:
        subprocess.run([*self.run_as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def make_batch(relay_id: str, start: datetime, count: int, device: str) -> bytes:
    batch = ingest_pb2.IngestBatch(relay_id=relay_id)
    for i in range(count):
        ev = batch.events.add(event_id=str(uuid.uuid4()), device_id=device, camera=CAMERAS[i % 4],
                              label=LABELS[i % 5], confidence=ingest_pb2.CONFIDENCE_HIGH, has_clip=True)
        ev.start.FromDatetime(start - timedelta(seconds=i))
        ev.end.FromDatetime(start - timedelta(seconds=i) + timedelta(seconds=6))
    return json_format.MessageToJson(batch, indent=None).encode()


def bench_ingest(pg: Postgres, client: TestClient, app, total: int, batch_size: int) -> None:
    key = auth.generate_private_key()
    with app.state.cloud.sessions() as session:
        tenant = Tenant(name="ingest-bench")
        session.add(tenant)
        session.flush()
        relay = Relay(name="bench-relay", endpoint_url="https://relay.example.org",
                      public_key=auth.public_key_to_text(key), tenant_id=tenant.id)
        session.add(relay)
        session.commit()
        relay_id, tenant_id = relay.id, tenant.id
    now = datetime.now(UTC)
    bodies = [make_batch(relay_id, now - timedelta(minutes=n), batch_size, "edge-bench")
              for n in range(total // batch_size)]
    # Warm-up (first batch creates device and cameras).
    warm = make_batch(relay_id, now - timedelta(days=1), 10, "edge-bench")
    client.post("/api/v1/ingest", content=warm, headers=auth.sign_relay_request(
        key, relay_id=relay_id, method="POST", path="/api/v1/ingest", body=warm))
    started = time.perf_counter()
    for body in bodies:
        headers = auth.sign_relay_request(key, relay_id=relay_id, method="POST", path="/api/v1/ingest", body=body)
        r = client.post("/api/v1/ingest", content=body, headers={**headers, "Content-Type": "application/json"})
        assert r.status_code == 200 and r.json()["eventsAccepted"] == batch_size, r.text
    api_seconds = time.perf_counter() - started
    # Idempotency under load: resend the first batch → all duplicates.
    body = bodies[0]
    r = client.post("/api/v1/ingest", content=body, headers=auth.sign_relay_request(
        key, relay_id=relay_id, method="POST", path="/api/v1/ingest", body=body))
    assert r.json()["eventsDuplicate"] == batch_size

    # Baseline: the same number of rows, bare executemany INSERT in batches of the same size.
    rows = [(tenant_id, str(uuid.uuid4()), "edge-bench", CAMERAS[i % 4], LABELS[i % 5],
             now - timedelta(days=2, seconds=i), now - timedelta(days=2, seconds=i - 6), 3, True, now)
            for i in range(total)]
    with psycopg.connect(pg.dsn) as conn:
        started = time.perf_counter()
        for i in range(0, total, batch_size):
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO events (tenant_id, id, device_id, camera, label, start_at, end_at, confidence,"
                    " has_clip, received_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                    rows[i:i + batch_size])
            conn.commit()
        raw_seconds = time.perf_counter() - started
    print(f"ingestion ({total} events, batches of {batch_size}):")
    print(f"  through the API (signed POST /api/v1/ingest): {total / api_seconds:9.0f} events/s "
          f"({api_seconds / len(bodies) * 1000:.1f} ms per batch)")
    print(f"  baseline: bare executemany INSERT         : {total / raw_seconds:9.0f} events/s")


def load_million(pg: Postgres, app, events: int, tenants: int) -> list[tuple[str, str]]:
    """COPY ``events`` rows spread over ``tenants`` tenants and 7 days; returns (tenant id, access token)."""
    now = datetime.now(UTC).replace(microsecond=0)
    tenant_ids = [str(uuid.uuid4()) for _ in range(tenants)]
    users = []
    with app.state.cloud.sessions() as session:
        for n, tid in enumerate(tenant_ids):
            session.add(Tenant(id=tid, name=f"bench-{n}"))
        session.flush()
        for n, tid in enumerate(tenant_ids):
            user = User(email=f"bench-{n}@bench.example.org", tenant_id=tid, role="viewer")
            session.add(user)
            users.append(user)
        session.commit()
        creds = [(tid, make_access_token(SECRET, user_id=u.id, token_version=0, minutes=60)[0])
                 for tid, u in zip(tenant_ids, users, strict=True)]
    per_tenant = events // tenants
    span = 7 * 86400
    started = time.perf_counter()
    rng = random.Random(7)
    with psycopg.connect(pg.dsn) as conn:
        with conn.cursor() as cur, cur.copy(
            "COPY events (tenant_id, id, device_id, camera, label, start_at, end_at, confidence, has_clip, received_at)"
            " FROM STDIN"
        ) as copy:
            for tid in tenant_ids:
                device = f"edge-{tid[:8]}"
                for _ in range(per_tenant):
                    start = now - timedelta(seconds=rng.randrange(span))
                    copy.write_row((tid, str(uuid.uuid4()), device, CAMERAS[rng.randrange(4)],
                                    LABELS[rng.randrange(5)], start, start + timedelta(seconds=8), 2, True, now))
        conn.commit()
        load = time.perf_counter() - started
        conn.execute("ANALYZE events")
        conn.commit()
        (total,) = conn.execute("SELECT count(*) FROM events").fetchall()[0]
    print(f"loaded {per_tenant * tenants} events with COPY in {load:.1f} s "
          f"({per_tenant * tenants / load:.0f} rows/s); table holds {total} rows")
    return creds


RAW_FIRST = ("SELECT tenant_id, id, device_id, camera, label, start_at, end_at, confidence, has_clip, received_at"
             " FROM events WHERE tenant_id = %s ORDER BY start_at DESC, id DESC LIMIT 51")
RAW_FILTERED = ("SELECT tenant_id, id, device_id, camera, label, start_at, end_at, confidence, has_clip, received_at"
                " FROM events WHERE tenant_id = %s AND camera = %s AND label = %s"
                " ORDER BY start_at DESC, id DESC LIMIT 51")
RAW_CURSOR = ("SELECT tenant_id, id, device_id, camera, label, start_at, end_at, confidence, has_clip, received_at"
              " FROM events WHERE tenant_id = %s AND (start_at, id) < (%s, %s)"
              " ORDER BY start_at DESC, id DESC LIMIT 51")


def bench_timeline(pg: Postgres, app, client: TestClient, creds: list[tuple[str, str]], queries: int) -> None:
    rng = random.Random(11)
    plan = [(rng.choice(creds), rng.choice(CAMERAS), rng.choice(LABELS)) for _ in range(queries)]
    sessions = app.state.cloud.sessions
    # A cursor in the middle of each tenant's week for the cursor query.
    middle = datetime.now(UTC) - timedelta(days=3)
    results: dict[str, dict[str, list[float]]] = {k: {"orm": [], "raw": [], "http": []}
                                                   for k in ("first page", "camera+label", "cursor page")}
    with sessions() as session, psycopg.connect(pg.dsn) as conn:
        for (tid, token), camera, label in plan:
            cursor = timeline.encode_cursor(middle, "8")
            for name, base, raw, args, params in (
                ("first page", timeline.filtered(tid), RAW_FIRST, (tid,), {}),
                ("camera+label", timeline.filtered(tid, camera=camera, label=label), RAW_FILTERED,
                 (tid, camera, label), {"camera": camera, "label": label}),
                ("cursor page", timeline.filtered(tid), RAW_CURSOR, (tid, middle, "8"), {"cursor": cursor}),
            ):
                t = time.perf_counter()
                rows, _ = timeline.page(session, base, limit=50, cursor=params.get("cursor"))
                results[name]["orm"].append(time.perf_counter() - t)
                session.expunge_all()
                t = time.perf_counter()
                raw_rows = conn.execute(raw, args).fetchall()
                results[name]["raw"].append(time.perf_counter() - t)
                assert [r.id for r in rows] == [r[1] for r in raw_rows[:50]]
                t = time.perf_counter()
                r = client.get("/api/v1/events", params={"limit": 50, **params},
                               headers={"Authorization": f"Bearer {token}"})
                results[name]["http"].append(time.perf_counter() - t)
                assert r.status_code == 200 and len(r.json()["items"]) == len(rows)
        explain = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + RAW_FILTERED, (plan[0][0][0], "porch", "cat")).fetchall()
    print(f"timeline queries ({queries} per kind, random tenants; ms p50 / p95):")
    print(f"  {'query':14} {'raw SQL (baseline)':>22} {'API query (ORM)':>20} {'GET /api/v1/events':>22}")
    for name, cols in results.items():
        cells = [f"{pct(cols[c], .5) * 1000:6.2f} / {pct(cols[c], .95) * 1000:6.2f}" for c in ("raw", "orm", "http")]
        print(f"  {name:14} {cells[0]:>22} {cells[1]:>20} {cells[2]:>22}")
    print("  plan of the filtered query:", " | ".join(r[0].strip() for r in explain[:2]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--ingest", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    pg = Postgres()
    try:
        migrate(pg.url)
        settings = CloudSettings(secret_key=SECRET, signing_key=auth.private_key_to_text(auth.generate_private_key()),
                                 database={"url": pg.url}, http={"max_ingest_bytes": 8 * 1024 * 1024})
        app = create_app(settings)
        with TestClient(app, base_url="https://bench") as client:
            bench_ingest(pg, client, app, args.ingest, args.batch)
            creds = load_million(pg, app, args.events, args.tenants)
            bench_timeline(pg, app, client, creds, args.queries)
    finally:
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
