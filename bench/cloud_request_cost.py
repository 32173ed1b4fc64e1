"""Benchmark: CPU per API request in the cloud process, and where it goes (issue #16).

Serves the real app with uvicorn in a subprocess (as ``guardian-cloud serve`` does: access log by
``cloud.access`` as JSON on stdout, here sent to /dev/null) on a SQLite database holding a few hundred
events of one tenant, then drives it with a few concurrent keep-alive clients (closed loop) through:

- ``GET /api/v1/events?limit=50`` (the timeline's first page),
- ``GET /api/v1/events/counts`` (a chart),
- ``POST /api/v1/events/{id}/clip-token`` (a media token),

and prints the server process's CPU time (user + system, from /proc) divided by the requests it answered.
Baselines in the same run: a bare Starlette route under the same uvicorn answering the same JSON bytes
(no middleware, no dependencies, no database), and the raw SQL of the first page through ``sqlite3``.
Then a second server run under cProfile (thread CPU time, every thread) breaks the cost of the events
page down by area: auth, JSON, logging, middleware, routing/validation, SQL, thread hops, HTTP server.

    .venv/bin/python bench/cloud_request_cost.py [--requests 2000] [--clients 4] [--events 300]

Figures, never assertions: compare the columns of one run, on one machine.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import marshal
import os
import pstats
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

CAMERAS = ["porch", "yard", "garage", "drive"]
LABELS = ["person", "car", "cat", "dog", "bicycle"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the server side (run as a subprocess of this script) ---------------------------------------------


def _settings(config: dict[str, Any]) -> Any:
    from cloud.core.config import CloudSettings

    return CloudSettings(secret_key=config["secret"], signing_key=config["signing_key"],
                         database={"url": config["db"]}, retention_interval_seconds=3600)


def _bare_app(body: bytes) -> Any:
    """The floor: the same bytes from a Starlette route, without our middleware, dependencies or database."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def events(_request: Any) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/api/v1/events", events)])


class ThreadProfiles:
    """cProfile in every thread (the event loop and AnyIO's workers), counting thread CPU time, not waits.

    ``SIGUSR1`` clears what was collected (after the warm-up), ``SIGUSR2`` writes the merged stats.
    """

    def __init__(self, out: Path) -> None:
        self.out, self.profiles = out, [self._start()]
        threading.setprofile(self._first_call)  # threads started from now on profile themselves
        signal.signal(signal.SIGUSR1, lambda *_: self.clear())
        signal.signal(signal.SIGUSR2, lambda *_: self.dump())

    @staticmethod
    def _start() -> cProfile.Profile:
        profile = cProfile.Profile(time.thread_time_ns, 1e-9)
        profile.enable()
        return profile

    def _first_call(self, *_: Any) -> None:
        self.profiles.append(self._start())  # replaces this hook for the calling thread

    def clear(self) -> None:
        for profile in self.profiles:
            profile.clear()
        self.out.with_suffix(".cleared").touch()

    def dump(self) -> None:
        # Snapshots, without disabling: that would close every thread's pending calls with *this* thread's
        # clock. What is still running (an idle worker's wait, the event loop itself) is left out.
        for n, profile in enumerate(self.profiles):
            profile.snapshot_stats()
            with self.out.with_suffix(f".{n}").open("wb") as file:
                marshal.dump(profile.stats, file)
        self.out.with_suffix(".count").write_text(str(len(self.profiles)))
        self.out.with_suffix(".count").rename(self.out.with_suffix(".done"))  # whole, once it appears


def serve(config_path: Path, which: str, port: int, profile: Path | None) -> None:
    import uvicorn

    from guardian.runtime.logging import configure_logging

    config = json.loads(config_path.read_text())
    configure_logging("INFO")
    if which == "bare":
        app = _bare_app(Path(config["body"]).read_bytes())
    else:
        from cloud.api.main import create_app

        app = create_app(_settings(config))
    if profile is not None:
        ThreadProfiles(profile)
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                  server_header=False, lifespan="on")).run()


# --- the driver -------------------------------------------------------------------------------------


def seed(db: str, events: int) -> dict[str, str]:
    """One tenant with a relay, a viewer and ``events`` events; returns ids and the viewer's token."""
    from cloud.core.db import make_engine, make_sessionmaker, migrate
    from cloud.core.security import make_access_token
    from cloud.tables import Event, Relay, Tenant, User
    from guardian.contracts import auth

    migrate(db)
    secret = "bench-secret-" + uuid.uuid4().hex
    sessions = make_sessionmaker(make_engine(db))
    now = datetime.now(UTC).replace(microsecond=0)
    with sessions() as session:
        tenant = Tenant(name="bench")
        session.add(tenant)
        session.flush()
        user = User(email="viewer@bench.example.org", tenant_id=tenant.id, role="viewer")
        session.add(user)
        session.add(Relay(name="bench-relay", endpoint_url="https://relay.bench.example.org",
                          public_key=auth.public_key_to_text(auth.generate_private_key()), tenant_id=tenant.id))
        event_ids = []
        for i in range(events):
            start = now - timedelta(minutes=7 * i)
            event_id = str(uuid.uuid4())
            event_ids.append(event_id)
            session.add(Event(tenant_id=tenant.id, id=event_id, device_id="edge-bench", camera=CAMERAS[i % 4],
                              label=LABELS[i % 5], start_at=start, end_at=start + timedelta(seconds=8),
                              confidence=2, has_clip=True))
        session.commit()
        token, _ = make_access_token(secret, user_id=user.id, token_version=user.token_version, minutes=120)
        return {"secret": secret, "token": token, "tenant": tenant.id, "event": event_ids[0],
                "signing_key": auth.private_key_to_text(auth.generate_private_key()), "db": db}


class Server:
    """This script in ``--serve`` mode, on a free port; its CPU time read from /proc."""

    def __init__(self, config_path: Path, which: str, profile: Path | None = None) -> None:
        self.port = free_port()
        self.profile = profile
        command = [sys.executable, __file__, "--serve", which, "--config", str(config_path), "--port", str(self.port)]
        if profile is not None:
            command += ["--profile", str(profile)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime

    def clear_profile(self) -> None:
        assert self.profile is not None
        self.process.send_signal(signal.SIGUSR1)
        while not self.profile.with_suffix(".cleared").exists():
            time.sleep(0.05)

    def dump_profile(self) -> pstats.Stats:
        assert self.profile is not None
        self.process.send_signal(signal.SIGUSR2)
        done = self.profile.with_suffix(".done")
        while not done.exists():
            time.sleep(0.05)
        count = int(done.read_text())
        return pstats.Stats(*(str(self.profile.with_suffix(f".{n}")) for n in range(count)))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def drive(url: str, requests: list[tuple[str, str, dict[str, Any] | None]], headers: dict[str, str],
          clients: int) -> None:
    """Send ``requests`` from ``clients`` keep-alive connections, each sending its next one when answered."""
    chunks = [requests[n::clients] for n in range(clients)]

    def one_client(chunk: list[tuple[str, str, dict[str, Any] | None]]) -> None:
        with httpx.Client(base_url=url, headers=headers) as client:
            for method, path, body in chunk:
                response = client.request(method, path, json=body)
                if response.status_code >= 300:
                    raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=one_client, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def cpu_per_request(server: Server, plan: list[tuple[str, str, dict[str, Any] | None]], headers: dict[str, str],
                    clients: int) -> tuple[float, float]:
    """(server CPU ms per request, requests per second) over ``plan``, after a warm-up of 100 requests."""
    drive(server.url, plan[:100], headers, clients)
    cpu, wall = server.cpu_seconds(), time.perf_counter()
    drive(server.url, plan, headers, clients)
    cpu, wall = server.cpu_seconds() - cpu, time.perf_counter() - wall
    return cpu / len(plan) * 1000, len(plan) / wall


def raw_sql_ms(db: str, tenant: str, queries: int) -> float:
    """CPU ms of the first page's query through ``sqlite3`` (fetching the rows, no ORM)."""
    path = db.split("sqlite:///", 1)[1]
    sql = ("SELECT tenant_id, id, device_id, camera, label, start_at, end_at, confidence, has_clip, received_at"
           " FROM events WHERE tenant_id = ? ORDER BY start_at DESC, id DESC LIMIT 51")
    with sqlite3.connect(path) as conn:
        conn.execute(sql, (tenant,)).fetchall()
        started = time.process_time()
        for _ in range(queries):
            conn.execute(sql, (tenant,)).fetchall()
        return (time.process_time() - started) / queries * 1000


# Where a function's own time goes: the first matching fragment of its file's path.
AREAS = [
    ("auth & tokens", ("/jwt/", "cloud/core/security.py", "guardian/contracts/auth", "/cryptography/", "hmac.py")),
    ("logging", ("/structlog/", "/logging/", "guardian/runtime/logging.py")),
    ("JSON", ("/json/", "fastapi/encoders.py")),
    ("SQL (SQLAlchemy, sqlite3)", ("/sqlalchemy/", "cloud/core/db.py", "cloud/services/", "cloud/tables.py")),
    ("metrics", ("/prometheus_client/",)),
    ("middleware (ours, Starlette's)", ("starlette/middleware/", "cloud/api/middleware.py", "cloud/core/csp.py",
                                        "cloud/api/static.py", "starlette/_exception_handler.py")),
    ("routing, deps, validation", ("/fastapi/", "/pydantic/", "/pydantic_core/", "starlette/routing.py",
                                   "starlette/requests.py", "starlette/datastructures.py", "starlette/responses.py",
                                   "/cloud/api/", "/annotated_types/", "/typing", "/enum.py")),
    ("thread hops (AnyIO workers)", ("/anyio/", "threading.py", "/concurrent/", "queue.py", "contextvars")),
    ("event loop (asyncio)", ("/asyncio/", "selectors.py")),
    ("HTTP server (uvicorn, h11)", ("/uvicorn/", "/h11/")),
]
# Built-ins (no file) whose name says where they belong; the rest count where their caller is.
BUILTIN_AREAS = [
    ("JSON", ("to_json", "encode' of '_json", "dumps", "'_json.", "serialize")),
    ("routing, deps, validation", ("validate_python", "validate_json", "validate_assignment")),
    ("SQL (SQLAlchemy, sqlite3)", ("sqlite3",)),
    ("thread hops (AnyIO workers)", ("_thread.lock", "_queue", "run_sync_in_worker_thread")),
    ("event loop (asyncio)", ("select.epoll", "_asyncio", "socket")),
]


def area_of(func: tuple[str, int, str]) -> str | None:
    filename, _, name = func
    if filename.startswith(("~", "<")):
        for area, fragments in BUILTIN_AREAS:
            if any(f in name for f in fragments):
                return area
        return None
    for area, fragments in AREAS:
        if any(f in filename for f in fragments):
            return area
    return "other"


def breakdown(stats: pstats.Stats, requests: int) -> None:
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    areas: dict[str, float] = defaultdict(float)
    for func, (_, _, tottime, _, callers) in table.items():
        area = area_of(func)
        if area is not None:
            areas[area] += tottime
            continue
        # A built-in with no area of its own: split its time over its callers' areas.
        edges = {caller: edge[2] for caller, edge in callers.items()}
        total = sum(edges.values()) or 1.0
        for caller, edge_time in edges.items():
            areas[area_of(caller) or "other"] += tottime * edge_time / total
    whole = sum(areas.values())
    print(f"  own CPU time by area (cProfile, thread CPU time; {whole / requests * 1000:.2f} ms per request "
          "under the profiler, which inflates pure-Python code):")
    for area, seconds in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"    {area:32} {seconds / requests * 1000:6.3f} ms  {seconds / whole * 100:5.1f} %")
    print("  inclusive time of what one request calls (ms per request):")
    for label, match in INCLUSIVE:
        seconds = max((ct for func, (_, _, _, ct, _) in table.items() if match(func)), default=0.0)
        print(f"    {label:48} {seconds / requests * 1000:6.3f}")
    print("  top functions by own time (ms per request):")
    ordered = sorted(table.items(), key=lambda kv: -kv[1][2])[:15]
    for (filename, line, name), (_, calls, tottime, _, _) in ordered:
        where = "/".join(Path(filename).parts[-2:]) if not filename.startswith("~") else ""
        print(f"    {tottime / requests * 1000:6.3f}  {calls / requests:5.1f}x  {name[:60]}  {where}:{line}")


def _ends(path: str, name: str) -> Any:
    return lambda func: func[0].endswith(path) and func[2] == name


INCLUSIVE = [
    ("access token check (security.read_access_token)", _ends("cloud/core/security.py", "read_access_token")),
    ("the access log line (structlog → JSON on stdout)", _ends("structlog/stdlib.py", "info")),
    ("response JSON (FastAPI serialize_response)", _ends("fastapi/routing.py", "serialize_response")),
    ("the route function (list_events, in a worker)", _ends("cloud/api/routes/events.py", "list_events")),
    ("the timeline query (timeline.page)", _ends("cloud/services/timeline.py", "page")),
    ("user + tenant (deps.get_tenant)", _ends("cloud/api/deps.py", "get_tenant")),
    ("one hop to a worker thread (anyio run_sync)", _ends("anyio/to_thread.py", "run_sync")),
    ("Starlette http middleware (BaseHTTPMiddleware)", _ends("starlette/middleware/base.py", "__call__")),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--clients", type=int, default=4, help="concurrent keep-alive clients")
    parser.add_argument("--events", type=int, default=300, help="events of the tenant")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile breakdown")
    parser.add_argument("--serve", choices=["cloud", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.config, args.serve, args.port, args.profile)
        return 0

    with tempfile.TemporaryDirectory(prefix="guardian-bench-cost-") as tmp:
        base = Path(tmp)
        config = seed(f"sqlite:///{base / 'cloud.db'}", args.events)
        config_path = base / "config.json"
        config_path.write_text(json.dumps(config))
        headers = {"Authorization": f"Bearer {config['token']}"}
        page = ("GET", "/api/v1/events?limit=50", None)
        plans: dict[str, list[tuple[str, str, dict[str, Any] | None]]] = {
            "GET /api/v1/events?limit=50": [page] * args.requests,
            "GET /api/v1/events/counts": [("GET", "/api/v1/events/counts?bucket=day", None)] * args.requests,
            "POST /api/v1/events/{id}/clip-token": [("POST", f"/api/v1/events/{config['event']}/clip-token", {})]
                                                   * args.requests,
        }
        print(f"server CPU per request ({args.requests} requests, {args.clients} clients, closed loop, "
              f"{args.events} events on SQLite):")
        server = Server(config_path, "cloud")
        try:
            body = httpx.get(server.url + page[1], headers=headers).content
            for name, plan in plans.items():
                ms, rate = cpu_per_request(server, plan, headers, args.clients)
                print(f"  {name:40} {ms:6.2f} ms CPU  ({rate:6.0f} req/s)")
        finally:
            server.stop()
        (base / "body.json").write_bytes(body)
        config["body"] = str(base / "body.json")
        config_path.write_text(json.dumps(config))
        bare = Server(config_path, "bare")
        try:
            ms, rate = cpu_per_request(bare, [page] * args.requests, {}, args.clients)
            print(f"  baseline: bare Starlette, same {len(body)} bytes  {ms:6.2f} ms CPU  ({rate:6.0f} req/s)")
        finally:
            bare.stop()
        print(f"  baseline: the page's raw SQL through sqlite3  {raw_sql_ms(config['db'], config['tenant'], 2000):6.2f}"
              " ms CPU")
        if args.no_profile:
            return 0
        print(f"profile of GET /api/v1/events?limit=50 ({args.requests // 2} requests):")
        profiled = Server(config_path, "cloud", profile=base / "profile.pstats")
        try:
            drive(profiled.url, [page] * 100, headers, args.clients)
            profiled.clear_profile()
            drive(profiled.url, [page] * (args.requests // 2), headers, args.clients)
            breakdown(profiled.dump_profile(), args.requests // 2)
        finally:
            profiled.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
