"""Live updates by Server-Sent Events: a new event, and a newer version of one (its clip became
available), reaches a subscribed browser within a second.

On PostgreSQL the browser is connected to one API replica and the relay posts to another (two app
instances on one database), so delivery goes through LISTEN/NOTIFY.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import event as sa_event

from cloud.api.main import create_app
from cloud.services import live
from tests.cloud import batches
from tests.cloud.conftest import SECRET, add_relay, login, make_settings, signup, test_client
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
    """An open ``/events/stream`` read in a thread: its events, the last ``id:`` (the cursor the browser
    sends back as ``Last-Event-ID``), and whether the server ended it.

    ``last_event_id``: resume from there. ``resume``: once open, read nothing more until it is set (a client
    that does not keep up; its socket's receive buffer is kept small so the server's sends block).
    """

    def __init__(self, url: str, token: str, last_event_id: str | None = None,
                 resume: threading.Event | None = None) -> None:
        self.events: queue.Queue = queue.Queue()
        self.ready, self.ended = threading.Event(), threading.Event()
        self.last_id: str | None = None
        self._resume = resume
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()
        assert self.ready.wait(5), "stream did not open"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        # Cut when the server stops at the end of the test: not an end of the stream by the server.
        with contextlib.suppress(httpx.RemoteProtocolError):
            self._lines(url, headers)

    def _lines(self, url: str, headers: dict[str, str]) -> None:
        small_buffer = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)] if self._resume is not None else []
        # The read timeout only guards against a hang; the server ends the stream long before.
        with httpx.Client(timeout=httpx.Timeout(5, read=60),
                          transport=httpx.HTTPTransport(socket_options=small_buffer)) as http, http.stream(
            "GET", f"{url}/api/v1/events/stream", headers=headers
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("id: "):
                    self.last_id = line[4:]
                elif line.startswith(": connected"):
                    self.ready.set()
                    if self._resume is not None:
                        assert self._resume.wait(120), "never resumed"
                        # Reading at full speed again (a 4 KiB window would take minutes for what is queued).
                        sock = response.extensions["network_stream"].get_extra_info("socket")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                elif line.startswith("data: "):
                    self.events.put(json.loads(line[6:]))
        self.ended.set()  # the server closed the response: the stream is over

    def drain(self) -> list[dict]:
        got = []
        with contextlib.suppress(queue.Empty):
            while True:
                got.append(self.events.get_nowait())
        return got


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


# --- one fan-out per notification, slow streams dropped, resumable cursors ------------------------------

def _post_events(url: str, relay, events) -> None:
    body = batches.batch(relay.id, events=list(events))
    r = httpx.post(url + "/api/v1/ingest", content=body, timeout=60,
                   headers={**relay.headers("POST", "/api/v1/ingest", body), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text


def _wait_listening(app) -> None:
    bus = app.state.cloud.bus
    if hasattr(bus, "listening"):
        deadline = time.monotonic() + 5
        while not bus.listening.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)


def _apps(db_url: str, signing_key, **auth):
    """The app browsers stream from and the one the relay posts to (another replica on PostgreSQL)."""
    settings = make_settings(db_url, signing_key, auth={"cookie_secure": False, **auth})
    viewer = create_app(settings)
    return viewer, (create_app(settings) if db_url.startswith("postgresql") else viewer)


@contextlib.contextmanager
def _served(viewer, writer):
    with serve(viewer) as viewer_url, (serve(writer) if writer is not viewer else nullcontext(viewer_url)) as writer_url:
        _wait_listening(viewer)
        yield viewer_url, writer_url


class _Statements:
    """Counts the SQL statements the viewer app's engines run."""

    def __init__(self, app) -> None:
        cloud = app.state.cloud
        self.count = 0
        self._engines = {id(e): e for e in (cloud.engine, getattr(cloud, "service_engine", cloud.engine))}.values()
        for engine in self._engines:
            sa_event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += 1

    def close(self) -> None:
        for engine in self._engines:
            sa_event.remove(engine, "before_cursor_execute", self._seen)


def test_one_fetch_per_notification_whatever_the_number_of_streams(db_url, signing_key) -> None:
    # No periodic login check during the test: only what notifications cost is counted.
    viewer, writer = _apps(db_url, signing_key, stream_check_seconds=60)
    with test_client(writer) as client:
        relay = add_relay(writer, "relay-a")
        member = signup(client, "many@a.example.org")
        tokens = [member.token] + [login(client, member.email, member.password) for _ in range(4)]
    with _served(viewer, writer) as (viewer_url, writer_url):
        streams = [_Stream(viewer_url, member.token)]
        _post_event(writer_url, relay, "porch")  # the device and camera exist from here on
        streams[0].events.get(timeout=5)
        statements = _Statements(viewer)
        try:
            def cost(n: int) -> int:
                """Statements for ``n`` events posted one by one, each seen by every stream before the next."""
                statements.count = 0
                for _ in range(n):
                    event_id = _post_event(writer_url, relay, "porch")
                    for stream in streams:
                        assert stream.events.get(timeout=10)["id"] == event_id
                return statements.count

            alone = cost(3)
            # 49 more streams of five logins (one check for all of them per notification).
            streams += [_Stream(viewer_url, tokens[i % len(tokens)]) for i in range(49)]
            together = cost(3)
        finally:
            statements.close()
        assert together == alone
        assert all(stream.events.empty() for stream in streams)


def test_a_slow_stream_is_dropped_and_resumes_from_its_cursor(db_url, signing_key) -> None:
    viewer, writer = _apps(db_url, signing_key)
    with test_client(writer) as client:
        relay = add_relay(writer, "relay-a")
        member = signup(client, "slow@a.example.org")
    with _served(viewer, writer) as (viewer_url, writer_url):
        hub = viewer.state.live
        resume = threading.Event()
        fast, slow = _Stream(viewer_url, member.token), _Stream(viewer_url, member.token, resume=resume)
        assert hub.streams(member.tenant_id) == 2
        # Big batches until the slow stream (its client reads nothing) is too far behind and ended; each
        # batch is fully delivered to the fast one first, so the fan-out has offered it to the slow one too.
        start = datetime.now(UTC)
        posted: list[str] = []
        for n in range(20):
            events = [batches.event("edge-a", "porch", "person", start - timedelta(seconds=n, microseconds=i))
                      for i in range(2000)]
            _post_events(writer_url, relay, events)
            posted += [e.event_id for e in events]
            assert {fast.events.get(timeout=30)["id"] for _ in events} == {e.event_id for e in events}
            if hub.streams(member.tenant_id) == 1:
                break
        assert hub.streams(member.tenant_id) == 1, "the slow stream was never dropped"
        # The fast one keeps receiving.
        after = _post_event(writer_url, relay, "yard")
        assert fast.events.get(timeout=5)["id"] == after
        # The slow client reads again: what was sent before the drop, then the end of its stream.
        resume.set()
        assert slow.ended.wait(60), "the dropped stream did not end"
        seen = {e["id"] for e in slow.drain()}
        missed = [i for i in posted if i not in seen] + [after]
        assert slow.last_id is not None and len(missed) > 1
        # Its reconnect with the last cursor replays what it missed (the newest, within the bound).
        again = _Stream(viewer_url, member.token, last_event_id=slow.last_id)
        marker = _post_event(writer_url, relay, "porch")
        replayed: list[str] = []
        while marker not in replayed:
            replayed.append(again.events.get(timeout=10)["id"])
        # It missed thousands: the replay is bounded (the newest; the UI reloads its page on every reconnect).
        assert after in replayed and len(replayed) == live.REPLAY_MAX_EVENTS + 1
        assert set(replayed) <= {*posted, after, marker}
        assert not fast.ended.is_set()


def test_a_reconnect_with_last_event_id_gets_what_it_missed(db_url, signing_key) -> None:
    viewer, writer = _apps(db_url, signing_key)
    with test_client(writer) as client:
        relay = add_relay(writer, "relay-a")
        member = signup(client, "resume@a.example.org")
    with _served(viewer, writer) as (viewer_url, writer_url):
        first = batches.event("edge-a", "porch", "person", datetime.now(UTC), has_clip=False, seconds=None)
        watcher = _Stream(viewer_url, member.token)
        _post_events(writer_url, relay, [first])
        assert watcher.events.get(timeout=5)["has_clip"] is False
        cursor = watcher.last_id
        assert cursor is not None and cursor != first.event_id  # a cursor, not the event id

    # Away (the server even restarted): a new event, and the first one's clip became available.
    with _served(viewer, writer) as (viewer_url, writer_url):
        missed = _post_event(writer_url, relay, "yard")
        _post_events(writer_url, relay, [batches.event("edge-a", "porch", "person", first.start.ToDatetime(UTC),
                                                       event_id=first.event_id, has_clip=True, seconds=6)])
        resumed = _Stream(viewer_url, member.token, last_event_id=cursor)
        fresh = _Stream(viewer_url, member.token)  # no Last-Event-ID: nothing replayed
        marker = _post_event(writer_url, relay, "porch")
        got: list[dict] = []
        while not got or got[-1]["id"] != marker:
            got.append(resumed.events.get(timeout=5))
        # In order of receipt: the clip's version (received last) after the missed event, as the update moved
        # its time of receipt.
        ids = [e["id"] for e in got]
        assert missed in ids and first.event_id in ids
        clip_version = max(i for i, e in enumerate(got) if e["id"] == first.event_id)
        assert got[clip_version]["has_clip"] is True and clip_version > ids.index(missed)
        assert fresh.events.get(timeout=5)["id"] == marker
