"""Relays' long poll of their desired configs (``GET /api/v1/relay/configs?wait=…``, issue #17).

A poll with nothing newer than its cursor waits until a tenant admin saves a config of the relay's tenant
(another tenant's save does not end it), or its ``wait`` runs out (answered empty), or the server stops
(answered empty at once: the relay asks again elsewhere). Waiting takes no turn at the database, so more
waits than the service pool has connections leave every other relay request answered. Real uvicorn servers
on both databases: the app in a thread, and ``guardian-cloud serve`` (two workers on PostgreSQL: a save
through one worker ends the waits in the other).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from cloud.api.main import create_app
from tests.cloud import batches
from tests.cloud.conftest import RelayHandle, add_relay, free_port, make_settings, signup, test_client
from tests.cloud.servers import serve
from tests.cloud.test_api import _env
from tests.cloud.test_workers import _serve, _server_socket_inodes, _worker_of, _workers

DEVICE = "edge-home"


class Poll:
    """One relay request to the config feed, on its own connection, answered in a thread."""

    def __init__(self, base_url: str, relay: RelayHandle, after: str, wait: int) -> None:
        path = f"/api/v1/relay/configs?after={after}&wait={wait}"
        host, port = base_url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=120)
        self.connection.connect()
        self.client_port: int = self.connection.sock.getsockname()[1]
        self.status = 0
        self.headers = http.client.HTTPMessage()
        self.body: dict[str, Any] = {}
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path, relay.headers("GET", path)), daemon=True)
        self._thread.start()

    def _run(self, path: str, headers: dict[str, str]) -> None:
        try:
            self.connection.request("GET", path, headers=headers)
            response = self.connection.getresponse()
            self.status, self.headers = response.status, response.headers
            self.body = json.loads(response.read())
        finally:
            self.connection.close()
            self.done.set()

    def answer(self) -> dict[str, Any]:
        assert self.done.wait(60), "the long poll was not answered"
        assert self.status == 200, (self.status, self.body)
        return self.body


def until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30  # only bounds a failure
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def camera(name: str) -> dict[str, Any]:
    return {"name": name, "display_name": name.title(), "record": {"url": f"rtsp://10.0.0.7:554/{name}/main"}}


def save(http: httpx.Client, token: str, device: str, cameras: list[dict[str, Any]], base: int) -> None:
    r = http.put(f"/api/v1/devices/{device}/config", headers={"Authorization": f"Bearer {token}"},
                 json={"base_version": base, "cameras": cameras})
    assert r.status_code == 201, r.text


def enrol(http: Any, relay: RelayHandle, device: str) -> Any:
    """A health report through the relay's ingest (how the cloud learns of a device); a service-pool request."""
    r = relay.post(http, "/api/v1/ingest", batches.batch(relay.id, healths=[batches.health(device, {})]))
    assert r.status_code == 200, r.text
    return r


def devices(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(c["deviceId"], int(c["version"])) for c in body["configs"]]


def test_waits_beyond_the_service_pool_leave_relay_requests_answered_and_all_get_their_tenants_save(
    db_url: str, signing_key: Any,
) -> None:
    waits = 5  # more than the service pool's 2 connections
    app = create_app(make_settings(db_url, signing_key, database={"service_pool_size": 2}))
    cloud = app.state.cloud
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        relay = add_relay(app, "relay-home")
        admin = signup(http, "admin@home.example.org", app=app)
        other_relay = add_relay(app, "relay-other")
        other = signup(http, "admin@other.example.org", tenant="Other home", app=app)
        enrol(http, relay, DEVICE)
        enrol(http, other_relay, "edge-other")
        config_waits = app.state.config_waits

        polls = [Poll(url, relay, "0", 30) for _ in range(waits)]
        until(lambda: config_waits.waiting(admin.tenant_id) == waits, "the polls to wait")
        # Every connection of the service pool is free: other relay requests and /healthz go through.
        assert cloud.gates.service.in_use == 0
        enrol(http, relay, "edge-garage")
        assert devices(Poll(url, relay, "0", 0).answer()) == []
        assert http.get("/healthz").status_code == 200

        # Another tenant's save ends none of them; a save of their tenant ends them all.
        save(http, other.token, "edge-other", [camera("shed")], base=0)
        save(http, admin.token, DEVICE, [camera("porch")], base=0)
        answers = [p.answer() for p in polls]
        assert all(devices(a) == [(DEVICE, 1)] for a in answers), answers
        assert {p.headers["X-Guardian-Wait"] for p in polls} == {"30"}
        cursor = answers[0]["cursor"]
        assert cursor != "0" and all(a["cursor"] == cursor for a in answers)
        assert cloud.metrics.registry.registry.get_sample_value("guardian_cloud_relay_config_waits") == 0


def test_a_poll_with_nothing_new_answers_empty_when_its_wait_runs_out(db_url: str, signing_key: Any) -> None:
    app = create_app(make_settings(db_url, signing_key))
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        relay = add_relay(app, "relay-home")
        admin = signup(http, "admin@home.example.org", app=app)
        enrol(http, relay, DEVICE)
        save(http, admin.token, DEVICE, [camera("porch")], base=0)
        first = Poll(url, relay, "0", 1).answer()  # something newer: answered at once, as without `wait`
        assert devices(first) == [(DEVICE, 1)]

        poll = Poll(url, relay, first["cursor"], 1)
        until(lambda: app.state.config_waits.waiting(admin.tenant_id) == 1 or poll.done.is_set(), "the poll to wait")
        assert poll.answer() == {"configs": [], "cursor": first["cursor"]}
        assert poll.headers["X-Guardian-Wait"] == "1"
        assert app.state.config_waits.waiting(admin.tenant_id) == 0
        for wait in ("-1", "31", "x"):  # the documented bounds
            path = f"/api/v1/relay/configs?wait={wait}"
            assert http.get(path, headers=relay.headers("GET", path)).status_code == 422


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@contextlib.contextmanager
def _waits_on_every_worker(url: str, port: int, workers: list[int], relay: RelayHandle,
                           after: str) -> Iterator[list[Poll]]:
    """Long polls opened one by one until each worker holds at least one (the kernel picks the worker)."""
    polls: list[Poll] = []
    held: set[int] = set()
    while len(held) < len(workers):
        assert len(polls) < 50, f"the kernel gave every connection to the same workers: {held}"
        poll = Poll(url, relay, after, 30)
        polls.append(poll)
        until(lambda: _metric(url, "guardian_cloud_relay_config_waits") == len(polls), "the poll to wait")
        worker = _worker_of(workers, _server_socket_inodes(port)[poll.client_port])
        assert worker is not None
        held.add(worker)
    yield polls


def test_a_save_through_any_worker_ends_the_waits_on_every_worker_and_stopping_ends_them_all(
    pg_url: str, signing_key: Any, tmp_path: Any,
) -> None:
    """Two workers on PostgreSQL: the save's NOTIFY reaches the other one too. (The single process, on either
    database, is the app served in a thread above; the stop signal's handling is the same in every worker.)"""
    settings = make_settings(pg_url, signing_key)
    app = create_app(settings)
    with test_client(app) as client:
        relay = add_relay(app, "relay-home")
        admin = signup(client, "admin@home.example.org")
        enrol(client, relay, DEVICE)
    app.state.cloud.engine.dispose()
    app.state.cloud.service_engine.dispose()
    env = _env(tmp_path, GUARDIAN_CLOUD_DATABASE__URL=pg_url, GUARDIAN_CLOUD_SIGNING_KEY=settings.signing_key.get_secret_value())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _serve(env, port, "--workers", "2") as server, httpx.Client(base_url=url, timeout=30) as http:
        pids = _workers(server.pid)
        assert len(pids) == 2
        with _waits_on_every_worker(url, port, pids, relay, "0") as polls:
            save(http, admin.token, DEVICE, [camera("porch")], base=0)
            answers = [p.answer() for p in polls]
        assert all(devices(a) == [(DEVICE, 1)] for a in answers), answers

        # Stopping ends the waits at once, answered (uvicorn would otherwise wait for them, then cut them).
        with _waits_on_every_worker(url, port, pids, relay, answers[0]["cursor"]) as polls:
            server.send_signal(signal.SIGTERM)
            stopped = [p.answer() for p in polls]
        assert stopped == [{"configs": [], "cursor": answers[0]["cursor"]}] * len(polls)
        output, _ = server.communicate(timeout=60)
        assert server.returncode == 0, output[-3000:]
        assert "Traceback" not in output, output[-5000:]
        assert '"config_waits_ended"' in output
