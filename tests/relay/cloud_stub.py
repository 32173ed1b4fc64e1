"""A small, real implementation of the cloud's ingestion contract for tests and benchmarks.

``POST /api/v1/ingest`` takes an ``IngestBatch`` in proto3 JSON, checks the relay's request signature
(:func:`guardian.contracts.auth.verify_relay_request`, nonce replay refused), stores what it received
verbatim (the raw JSON of each summary and health report) in SQLite, and answers an ``IngestResult``.
``GET /api/v1/relay/revocations`` and ``GET /api/v1/relay/configs`` (signed too) answer that nothing is
revoked and no configuration is desired (tests of those use the real cloud: tests/relay/cloud_real.py).
Run it as a process (HTTPS with the test CA's certificate)::

    python -m tests.relay.cloud_stub --db cloud.db --relay-key PUBLIC --cert c.pem --key c.key --port 9443
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
import time

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from google.protobuf import json_format

from guardian.contracts import auth
from guardian.contracts.cloud.v1 import ingest_pb2

SCHEMA = """
CREATE TABLE IF NOT EXISTS event_summaries (event_id TEXT PRIMARY KEY, relay_id TEXT, body TEXT, received_at REAL);
CREATE TABLE IF NOT EXISTS device_health (id INTEGER PRIMARY KEY, relay_id TEXT, device_id TEXT, body TEXT, received_at REAL);
CREATE TABLE IF NOT EXISTS requests (id INTEGER PRIMARY KEY, path TEXT, body TEXT, received_at REAL);
"""


def create_app(db_path: str, relay_keys: dict[str, str], fail_first: int = 0) -> FastAPI:
    app = FastAPI()
    db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    lock = threading.Lock()
    seen_nonces: set[tuple[str, str]] = set()
    failures = {"left": fail_first}
    keys = {rid: auth.public_key_from_text(text) for rid, text in relay_keys.items()}

    async def authenticate(request: Request, body: bytes) -> str:
        relay_id = auth.relay_id_of(request.headers)
        key = keys.get(relay_id or "")
        if key is None:
            raise HTTPException(401, "unknown relay")
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")  # as the cloud signs it
        try:
            signed = auth.verify_relay_request(request.headers, key, method=request.method, path=path, body=body)
        except auth.TokenError as exc:
            raise HTTPException(401, str(exc)) from None
        with lock:
            if (signed.relay_id, signed.nonce) in seen_nonces:
                raise HTTPException(401, "replayed request")
            seen_nonces.add((signed.relay_id, signed.nonce))
        return signed.relay_id

    @app.post("/api/v1/ingest")
    async def ingest(request: Request) -> dict[str, object]:
        body = await request.body()
        relay_id = await authenticate(request, body)
        if failures["left"] > 0:
            failures["left"] -= 1
            raise HTTPException(503, "injected failure")
        batch = ingest_pb2.IngestBatch()
        json_format.Parse(body, batch)  # strict: unknown fields are an error
        raw = json.loads(body)
        accepted = duplicate = 0
        now = time.time()
        with lock:
            db.execute("INSERT INTO requests (path, body, received_at) VALUES (?, ?, ?)", (request.url.path, body.decode(), now))
            for item in raw.get("events", []):
                cur = db.execute(
                    "INSERT OR IGNORE INTO event_summaries VALUES (?, ?, ?, ?)",
                    (item["eventId"], relay_id, json.dumps(item), now),
                )
                if cur.rowcount:
                    accepted += 1
                else:
                    duplicate += 1
            for item in raw.get("health", []):
                db.execute(
                    "INSERT INTO device_health (relay_id, device_id, body, received_at) VALUES (?, ?, ?, ?)",
                    (relay_id, item.get("deviceId"), json.dumps(item), now),
                )
        result = ingest_pb2.IngestResult(
            events_accepted=accepted, events_duplicate=duplicate, health_accepted=len(raw.get("health", []))
        )
        return json.loads(json_format.MessageToJson(result, always_print_fields_with_no_presence=True))

    @app.get("/api/v1/relay/revocations")
    async def revocations(request: Request) -> list[dict[str, str]]:
        """Nothing revoked (tests of revocation use the real cloud: tests/relay/cloud_real.py)."""
        await authenticate(request, await request.body())
        return []

    @app.get("/api/v1/relay/configs")
    async def configs(request: Request) -> dict[str, object]:
        """No desired configuration, ever: the cursor stays where the relay left it."""
        await authenticate(request, await request.body())
        return {"configs": [], "cursor": request.query_params.get("after") or "0"}

    @app.post("/api/v1/relay/bootstrap/consume")
    async def consume(request: Request) -> dict[str, str]:
        body = await request.body()
        await authenticate(request, body)
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--relay-id", required=True)
    parser.add_argument("--relay-key", required=True, help="relay's public signing key (base64url)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    app = create_app(args.db, {args.relay_id: args.relay_key}, args.fail_first)
    uvicorn.run(app, host=args.host, port=args.port, ssl_certfile=args.cert, ssl_keyfile=args.key, log_level="warning")


if __name__ == "__main__":
    main()
