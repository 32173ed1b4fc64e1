"""Live updates by Server-Sent Events: a new event, and a newer version of one (its clip became
available), reaches a subscribed browser within a second.

On PostgreSQL the browser is connected to one API replica and the relay posts to another (two app
instances on one database), so delivery goes through LISTEN/NOTIFY.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime

import httpx
import jwt
import pytest

from cloud.api.main import create_app
from tests.cloud import batches
from tests.cloud.conftest import SECRET, add_relay, make_settings, signup, test_client
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


# --- a stream ends with its login -------------------------------------------------------------------

class _Stream:
    """An open ``/events/stream`` read in a thread: its events, and whether the server ended it."""

    def __init__(self, url: str, token: str) -> None:
        self.events: queue.Queue = queue.Queue()
        self.ready, self.ended = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()
        assert self.ready.wait(5), "stream did not open"

    def _read(self, url: str, token: str) -> None:
        # Cut when the server stops at the end of the test: not an end of the stream by the server.
        with contextlib.suppress(httpx.RemoteProtocolError):
            self._lines(url, token)

    def _lines(self, url: str, token: str) -> None:
        # The read timeout only guards against a hang; the server ends the stream long before.
        with httpx.Client(timeout=httpx.Timeout(5, read=60)) as http, http.stream(
            "GET", f"{url}/api/v1/events/stream", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    self.ready.set()
                elif line.startswith("data: "):
                    self.events.put(json.loads(line[6:]))
        self.ended.set()  # the server closed the response: the stream is over


def _post_event(url: str, relay, camera: str) -> str:
    ev = batches.event("edge-a", camera, "person", datetime.now(UTC))
    body = batches.batch(relay.id, events=[ev])
    r = httpx.post(url + "/api/v1/ingest", content=body,
                   headers={**relay.headers("POST", "/api/v1/ingest", body), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return str(ev.event_id)


@pytest.mark.parametrize("ending", ["member_removed", "password_changed", "logged_out"])
def test_stream_ends_when_its_login_ends(db_url, signing_key, ending) -> None:
    settings = make_settings(db_url, signing_key, auth={"cookie_secure": False, "stream_check_seconds": 0.2})
    app = create_app(settings)
    with test_client(app) as client:
        relay = add_relay(app, "relay-a")
        admin = signup(client, "admin@a.example.org")
        password = "another long password 42"
        r = client.post("/api/v1/tenant/members", headers=admin.auth,
                        json={"email": "member@a.example.org", "password": password})
        assert r.status_code == 201, r.text
        member_id = r.json()["id"]
    with serve(app) as url, httpx.Client(base_url=url, cookies=None) as member:
        r = member.post("/api/v1/auth/login", json={"email": "member@a.example.org", "password": password})
        assert r.status_code == 200, r.text
        member_token, refresh = r.json()["access_token"], r.cookies.get("guardian_refresh")
        assert refresh
        watched, control = _Stream(url, member_token), _Stream(url, admin.token)
        assert _post_event(url, relay, "porch") == watched.events.get(timeout=5)["id"]
        control.events.get(timeout=5)

        if ending == "member_removed":
            r = httpx.delete(f"{url}/api/v1/tenant/members/{member_id}", headers=admin.auth)
            assert r.status_code == 204, r.text
        elif ending == "password_changed":
            # From another login of the member: this stream's login ends with the change.
            other = httpx.post(f"{url}/api/v1/auth/login", json={"email": "member@a.example.org", "password": password})
            r = httpx.post(f"{url}/api/v1/users/me/password",
                           headers={"Authorization": f"Bearer {other.json()['access_token']}"},
                           json={"current_password": password, "new_password": "a different long password 43"})
            assert r.status_code == 200, r.text
        else:
            r = member.post("/api/v1/auth/logout", headers={"Cookie": f"guardian_refresh={refresh}"})
            assert r.status_code == 204

        assert watched.ended.wait(30), f"stream still open after {ending}"
        # The admin's stream, checked as often, lives on and still delivers.
        later = _post_event(url, relay, "yard")
        assert control.events.get(timeout=5)["id"] == later
        assert not control.ended.is_set()
        assert watched.events.empty()


def test_stream_ends_when_its_access_token_expires(db_url, signing_key) -> None:
    settings = make_settings(db_url, signing_key, auth={"cookie_secure": False, "stream_check_seconds": 0.2})
    app = create_app(settings)
    with test_client(app) as client:
        relay = add_relay(app, "relay-a")
        member = signup(client, "short@a.example.org")
    # The same login's token, as the cloud issues it but with a ten-second lifetime (the settings allow
    # one minute at least); ample for the stream to open first, even on a busy machine.
    claims = jwt.decode(member.token, options={"verify_signature": False})
    claims["exp"] = int(time.time()) + 10
    short = jwt.encode(claims, SECRET, algorithm="HS256")
    with serve(app) as url:
        expiring, control = _Stream(url, short), _Stream(url, member.token)
        assert expiring.ended.wait(60), "stream outlived its access token"
        event_id = _post_event(url, relay, "porch")
        assert control.events.get(timeout=5)["id"] == event_id
        assert expiring.events.empty()
