"""The cloud as several processes on one PostgreSQL: ``guardian-cloud serve --workers 3`` (three workers
behind one socket, as on one host) and a second ``serve`` (another host behind the load balancer).

Live streams open on every worker of the first and on the second; events ingested through either reach
every stream (each process has its own LISTEN connection); ``/metrics`` adds the workers up; SIGTERM stops
every worker (ending their open streams at once) and the supervisor exits 0. SQLite refuses several workers: it is the single-process mode.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx

from cloud.api.main import create_app
from tests.cloud import batches
from tests.cloud.conftest import RelayHandle, add_relay, free_port, make_settings, signup, test_client
from tests.cloud.test_api import VENV_BIN, _env

WORKERS = 3


class _Stream:
    """An open live stream read in a thread; ``port`` is its client-side TCP port."""

    def __init__(self, url: str, token: str) -> None:
        self.events: queue.Queue[dict[str, object]] = queue.Queue()
        self.port: int | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "stream did not open"

    def _read(self, url: str, token: str) -> None:
        with contextlib.suppress(httpx.HTTPError), httpx.Client(timeout=httpx.Timeout(10, read=60)) as http, \
                http.stream("GET", f"{url}/api/v1/events/stream", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status_code == 200
            stream = r.extensions["network_stream"]
            self.port = stream.get_extra_info("client_addr")[1]
            for line in r.iter_lines():
                if line.startswith(": connected"):
                    self._ready.set()
                elif line.startswith("data: "):
                    self.events.put(json.loads(line[6:]))


def _server_socket_inodes(server_port: int) -> dict[int, str]:
    """Established connections to ``server_port`` on loopback: client port → the server side's socket inode."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if local_port == server_port and fields[3] == "01":  # ESTABLISHED
            found[remote_port] = fields[9]
    return found


def _worker_of(pids: list[int], inode: str) -> int | None:
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                        return pid
    return None


def _workers(pid: int) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


@contextlib.contextmanager
def _serve(env: dict[str, str], port: int, *extra: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([str(VENV_BIN / "guardian-cloud"), "serve", "--port", str(port), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"server did not start: {proc.communicate()[0][-3000:]}")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _post(url: str, relay: RelayHandle) -> str:
    ev = batches.event("edge-a", "porch", "person", datetime.now(UTC))
    body = batches.batch(relay.id, events=[ev])
    path = "/api/v1/ingest"
    r = httpx.post(url + path, content=body, headers={**relay.headers("POST", path, body),
                                                      "Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    return ev.event_id


def test_workers_and_hosts_share_live_events(pg_url, signing_key, tmp_path) -> None:
    settings = make_settings(pg_url, signing_key)
    app = create_app(settings)
    with test_client(app) as client:
        relay = add_relay(app, "relay-a")
        member = signup(client, "workers@a.example.org")
    env = _env(tmp_path, GUARDIAN_CLOUD_DATABASE__URL=pg_url, GUARDIAN_CLOUD_SIGNING_KEY=settings.signing_key.get_secret_value())
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    streams: list[_Stream] = []
    with _serve(env, port_a, "--workers", str(WORKERS)) as supervisor, _serve(env, port_b):
        workers = _workers(supervisor.pid)
        assert len(workers) == WORKERS
        # Open streams on the first host until each of its workers holds at least one.
        by_worker: dict[int, int] = {}
        while len(by_worker) < WORKERS:
            assert len(streams) < 200, f"the kernel gave every stream to the same workers: {by_worker}"
            stream = _Stream(url_a, member.token)
            streams.append(stream)
            inode = _server_socket_inodes(port_a)[stream.port or 0]
            worker = _worker_of(workers, inode)
            assert worker is not None
            by_worker[worker] = by_worker.get(worker, 0) + 1
        on_a = len(streams)
        streams.append(_Stream(url_b, member.token))

        sent = [_post(url_b, relay), _post(url_a, relay), _post(url_b, relay)]
        for stream in streams:
            got = [stream.events.get(timeout=10)["id"] for _ in sent]
            assert got == sent
        # /metrics of the first host counts the streams of all its workers.
        text = httpx.get(f"{url_a}/metrics", timeout=10).text
        assert f"guardian_cloud_sse_clients {float(on_a)}" in text, [ln for ln in text.splitlines() if "sse" in ln]

        # Stopping ends the open streams at once (uvicorn would otherwise wait for them, then cancel them):
        # each browser reconnects to a worker or host still serving.
        supervisor.send_signal(signal.SIGTERM)
        output, _ = supervisor.communicate(timeout=60)
        assert supervisor.returncode == 0, output[-3000:]
        closed = [json.loads(line) for line in output.splitlines() if '"stream_closed"' in line]
        assert [c["reason"] for c in closed] == ["server_stopping"] * on_a
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
        assert "Traceback" not in output, output[-5000:]


def test_sqlite_refuses_several_workers(tmp_path) -> None:
    env = _env(tmp_path)
    cli = str(VENV_BIN / "guardian-cloud")
    assert subprocess.run([cli, "migrate"], env=env, capture_output=True, timeout=60).returncode == 0
    done = subprocess.run([cli, "serve", "--workers", "2", "--port", str(free_port())], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 78, done.stderr
    assert "several workers need PostgreSQL" in done.stderr
    env["GUARDIAN_CLOUD_HTTP__WORKERS"] = "2"
    done = subprocess.run([cli, "check-config"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 78 and "needs PostgreSQL" in done.stderr, done.stderr


def test_workers_stop_when_their_supervisor_is_killed(pg_url, signing_key, tmp_path) -> None:
    """SIGKILL leaves the supervisor no time to stop its workers: they stop by themselves instead of holding
    the port (and the database's connections) as orphans."""
    env = _env(tmp_path, GUARDIAN_CLOUD_DATABASE__URL=pg_url)
    with _serve(env, free_port(), "--workers", "2") as supervisor:
        workers = _workers(supervisor.pid)
        assert len(workers) == 2
        supervisor.kill()
        supervisor.wait()
        deadline = time.monotonic() + 30  # only bounds a failure; they go within milliseconds
        while any(Path(f"/proc/{pid}").exists() and b"zombie" not in _state(pid) for pid in workers):
            assert time.monotonic() < deadline, "workers outlived their supervisor"
            time.sleep(0.05)


def test_workers_stop_when_their_supervisor_is_killed_while_they_start(pg_url, tmp_path) -> None:
    """Killed before its workers asked the kernel to stop them with it (they were still importing the app),
    the supervisor used to leave them running as orphans: they must notice and stop."""
    env = _env(tmp_path, GUARDIAN_CLOUD_DATABASE__URL=pg_url)
    proc = subprocess.Popen([str(VENV_BIN / "guardian-cloud"), "serve", "--port", str(free_port()), "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers: list[int] = []
        deadline = time.monotonic() + 60
        while len(workers) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the supervisor did not start its workers"
            with contextlib.suppress(OSError):
                workers = _workers(proc.pid)
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 60  # only bounds a failure
    while any(Path(f"/proc/{pid}").exists() and b"zombie" not in _state(pid) for pid in workers):
        if time.monotonic() > deadline:
            for pid in workers:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            raise AssertionError("workers outlived their supervisor")
        time.sleep(0.05)


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes().lower()
    except OSError:
        return b"zombie"


def test_the_shared_socket_is_marked_tcp() -> None:
    """asyncio disables Nagle only on accepted sockets whose protocol is TCP; uvicorn binds with protocol 0,
    and every worker's answer then waited ~40 ms for the client's delayed ACK."""
    import socket

    import uvicorn

    from cloud.server import _tcp_socket

    # log_config=None: uvicorn would otherwise install its own logging config for the rest of the session.
    sock = _tcp_socket(uvicorn.Config(app="x:y", host="127.0.0.1", port=0, log_config=None).bind_socket())
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
