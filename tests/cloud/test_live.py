"""Live updates by Server-Sent Events: a new event, and a newer version of one (its clip became
available), reaches a subscribed browser within a second.

On PostgreSQL the browser is connected to one API replica and the relay posts to another (two app
instances on one database), so delivery goes through LISTEN/NOTIFY.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime

import httpx

from cloud.api.main import create_app
from tests.cloud import batches
from tests.cloud.conftest import add_relay, make_settings, signup, test_client
from tests.cloud.servers import serve


def _listen(url: str, token: str, out: queue.Queue, ready: threading.Event, stop: threading.Event) -> None:
    try:
        _read_stream(url, token, out, ready, stop)
    except httpx.HTTPError:
        if not stop.is_set():  # the server closing the stream at the end of the test is expected
            raise


def _read_stream(url: str, token: str, out: queue.Queue, ready: threading.Event, stop: threading.Event) -> None:
    with httpx.Client(timeout=httpx.Timeout(5, read=30)) as http, http.stream(
        "GET", f"{url}/api/v1/events/stream", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        data = None
        for line in response.iter_lines():
            if line.startswith(": connected"):
                ready.set()
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and data is not None:
                out.put(data)
                data = None
            if stop.is_set():
                return


def test_sse_delivers_new_event_within_a_second(db_url, signing_key) -> None:
    settings = make_settings(db_url, signing_key, auth={"cookie_secure": False})
    viewer_app = create_app(settings)
    # SQLite is the one-process setup: the same app serves both; PostgreSQL gets a second replica.
    writer_app = create_app(settings) if db_url.startswith("postgresql") else viewer_app
    with test_client(writer_app) as client:
        relay = add_relay(writer_app, "relay-a")
        member = signup(client, "live@a.example.org")
        other_relay = add_relay(writer_app, "relay-b")
        signup(client, "other@b.example.org")
    with serve(viewer_app) as viewer_url, (
        serve(writer_app) if writer_app is not viewer_app else nullcontext(viewer_url)
    ) as writer_url:
        bus = viewer_app.state.cloud.bus
        if hasattr(bus, "listening"):
            deadline = time.monotonic() + 5
            while not bus.listening.is_set() and time.monotonic() < deadline:
                time.sleep(0.02)
        received: queue.Queue = queue.Queue()
        ready, stop = threading.Event(), threading.Event()
        thread = threading.Thread(target=_listen, args=(viewer_url, member.token, received, ready, stop), daemon=True)
        thread.start()
        assert ready.wait(5), "stream did not open"

        def post(handle, ev) -> None:
            body = batches.batch(handle.id, events=[ev])
            path = "/api/v1/ingest"
            r = httpx.post(writer_url + path, content=body, headers={**handle.headers("POST", path, body),
                                                                      "Content-Type": "application/json"})
            assert r.status_code == 200, r.text

        # Another tenant's event must not reach this stream; ours must, within a second.
        post(other_relay, batches.event("edge-b", "yard", "car", datetime.now(UTC)))
        start = datetime.now(UTC)
        ev = batches.event("edge-a", "porch", "person", start, has_clip=False, seconds=None)
        post(relay, ev)
        got = received.get(timeout=1.0)
        assert got["id"] == ev.event_id and got["camera"] == "porch" and got["label"] == "person"
        assert got["has_clip"] is False and got["end_at"] is None
        assert received.empty()
        # The relay's newer version (ended, clip assembled) is published too: an open page sees the clip.
        done = batches.event("edge-a", "porch", "person", start, event_id=ev.event_id, has_clip=True, seconds=6)
        post(relay, done)
        got = received.get(timeout=1.0)
        assert got["id"] == ev.event_id and got["has_clip"] is True and got["end_at"] is not None
        # A resend adding nothing is not: the next message is a later marker event, not the resend (the
        # bus delivers in commit order, so no waiting is needed to tell).
        post(relay, done)
        marker = batches.event("edge-a", "porch", "car", datetime.now(UTC))
        post(relay, marker)
        got = received.get(timeout=1.0)
        assert got["id"] == marker.event_id
        assert received.empty()
        stop.set()
