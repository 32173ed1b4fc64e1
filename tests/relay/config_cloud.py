"""A tiny real cloud that speaks exactly the relay's side of the desired-configuration contract (issue #17).

- ``GET /api/v1/relay/configs[?after=<cursor>]``, signed like every relay request (the path with its query
  string is what is signed): ``{"configs": [<DesiredConfig, proto3 JSON>…], "cursor": "<opaque>"}``, the
  newest version of each device published after the cursor (every device's newest without one), oldest
  first, at most ``page`` of them; the cursor is the last one's. Cursors contain characters that need
  quoting in a URL, so a relay that does not pass them verbatim is caught.
- ``POST /api/v1/ingest``, signed: an ``IngestBatch`` parsed strictly (an unknown field is a 400), kept as
  the JSON received; ``fail_ingest`` answers 503 that many times first.

It keeps everything in memory and records what it was asked (``afters``), for the test to check.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from google.protobuf import json_format

from guardian.contracts import auth
from guardian.contracts.cloud.v1 import ingest_pb2
from guardian.contracts.edge.v1 import config_pb2

CONFIGS_PATH = "/api/v1/relay/configs"


def cursor_text(seq: int) -> str:
    return f"seq {seq}/+&"  # opaque to the relay; needs quoting in a query string


def cursor_seq(text: str) -> int:
    if not text.startswith("seq ") or not text.endswith("/+&"):
        raise HTTPException(400, "not a cursor of this cloud")
    return int(text[4:-3])


class ContractCloud:
    def __init__(self, relay_id: str, relay_key: auth.Ed25519PublicKey, page: int = 100) -> None:
        self.page = page
        self.relay_id = relay_id
        self.relay_key = relay_key
        self.lock = threading.Lock()
        self.published: list[tuple[int, dict[str, Any]]] = []  # (seq, DesiredConfig JSON), in commit order
        self.afters: list[str | None] = []  # the `after` of every config request, as received
        self.batches: list[dict[str, Any]] = []  # ingest bodies, as received
        self.fail_ingest = 0
        self.nonces: set[str] = set()

    def publish(self, config: config_pb2.DesiredConfig) -> dict[str, Any]:
        body = json_format.MessageToDict(config)
        with self.lock:
            self.published.append((len(self.published) + 1, body))
        return body

    def config_status(self) -> list[dict[str, Any]]:
        with self.lock:
            return [status for batch in self.batches for status in batch.get("configStatus", [])]

    def _authenticate(self, request: Request, body: bytes) -> None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if auth.relay_id_of(request.headers) != self.relay_id:
            raise HTTPException(401, "unknown relay")
        try:
            signed = auth.verify_relay_request(request.headers, self.relay_key, method=request.method, path=path,
                                               body=body)
        except auth.TokenError as exc:
            raise HTTPException(401, str(exc)) from None
        with self.lock:
            if signed.nonce in self.nonces:
                raise HTTPException(401, "replayed")
            self.nonces.add(signed.nonce)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get(CONFIGS_PATH)
        async def configs(request: Request) -> dict[str, Any]:
            self._authenticate(request, b"")
            after_text = request.query_params.get("after")
            after = 0 if after_text is None else cursor_seq(after_text)
            with self.lock:
                self.afters.append(after_text)
                newest: dict[str, tuple[int, dict[str, Any]]] = {}
                for seq, body in self.published:
                    newest[body["deviceId"]] = (seq, body)
            page = sorted((seq, body) for seq, body in newest.values() if seq > after)[: self.page]
            return {"configs": [body for _seq, body in page], "cursor": cursor_text(page[-1][0] if page else after)}

        @app.post("/api/v1/ingest")
        async def ingest(request: Request) -> dict[str, Any]:
            body = await request.body()
            self._authenticate(request, body)
            with self.lock:
                if self.fail_ingest > 0:
                    self.fail_ingest -= 1
                    raise HTTPException(503, "injected failure")
            batch = ingest_pb2.IngestBatch()
            try:
                json_format.Parse(body, batch)  # strict: a field the contract does not have is refused
            except json_format.ParseError as exc:
                raise HTTPException(400, str(exc)) from None
            with self.lock:
                self.batches.append(json.loads(body))
            return {"eventsAccepted": len(batch.events)}

        return app
