"""Benchmark: the cloud under load (issue #16) — real ``guardian-cloud serve`` processes on a real PostgreSQL.

Starts its own PostgreSQL 15 (initdb into a temp dir, durable defaults; stopped at the end), migrates it,
seeds a few tenants (members, a relay, a device with four cameras, a few thousand events with clips) and
a "live" tenant for the SSE clients, then runs the cloud as processes: the API workers
(``serve --workers N``) and, as production routes ``/api/v1/ingest`` there, a separate ingest worker
(``serve``, one process) on its own port. It measures:

1. API load: closed-loop users (one connection and one member token each) doing a mix of event list,
   filtered list (camera + label), counts by label and clip-token minting, at 1 user (the baseline)
   then more; req/s, p50/p95/p99, errors by status (503 apart), CPU of the cloud processes;
2. ingest alongside: a simulated relay (its own process) posting signed batches of 1-5 events every
   ~100 ms, latency idle (no users, the baseline) and under each level, and end to end "the event is
   visible in GET /api/v1/events"; first to the ingest worker, then (the "shared" variant) to the API
   workers themselves, as when no ingest worker is configured;
3. 1 worker vs 2 workers: the ratio of req/s at the top level (the goal is ≥ 1.7×);
4. SSE fan-out: N clients on ``/api/v1/events/stream`` spread over the workers, events ingested one at a
   time; delivery latency (ingest POST sent → ``data:`` line read) p50/p95/max and missing deliveries,
   with one client as the baseline.

    .venv/bin/python bench/cloud_load.py [--quick] [--users 1,50,100,200] [--sse 100,500,2000]
                                         [--workers 1,2] [--duration S]

Figures, never assertions; the load generator shares the machine with the cloud and PostgreSQL (its own
CPU is printed beside the cloud's). Compare the rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from cloud.core.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from cloud.core.security import make_access_token  # noqa: E402
from cloud.tables import Camera, Device, Relay, Tenant, User  # noqa: E402
from guardian.contracts import auth  # noqa: E402
from guardian.contracts.cloud.v1 import ingest_pb2  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CLOUD_BIN = ROOT / ".venv" / "bin" / "guardian-cloud"
CAMERAS = ["porch", "yard", "garage", "drive"]
LABELS = ["person", "car", "cat", "dog", "bicycle"]
API_TENANTS = 4
POOL_SIZE, SERVICE_POOL_SIZE = 10, 4  # the config defaults, written out so the output can name them
TICK = os.sysconf("SC_CLK_TCK")
# The request mix of one API user: (kind, weight).
MIX = [("list", 40), ("filtered", 25), ("counts", 20), ("clip-token", 15)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- processes ---------------------------------------------------------------------------------------


class Postgres:
    """A PostgreSQL 15 of its own: initdb as the postgres user into a temp dir, on a free port."""

    def __init__(self) -> None:
        self.base = base = Path(tempfile.mkdtemp(prefix="guardian-bench-pg-"))
        self.data, sock = base / "data", base / "sock"
        sock.mkdir()
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*self.run_as, str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-E", "UTF8",
                        "--locale=C.UTF-8"], check=True, capture_output=True)
        self.port = free_port()
        # Durable defaults (fsync on), as in production; enough connections for every pool of every process.
        opts = (f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=300"
                " -c shared_buffers=128MB")
        # Its own session: a Ctrl-C in the terminal reaches this script, which stops PostgreSQL last.
        subprocess.run([*self.run_as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(base / "pg.log"),
                        "-o", opts, "start"], check=True, capture_output=True, start_new_session=True)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/bench"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/bench"

    def cpu(self) -> float:
        """CPU seconds of the postmaster and its backends so far."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            return cpu_seconds(process_tree(int((self.data / "postmaster.pid").read_text().split()[0])))
        return float("nan")

    def stop(self) -> None:
        subprocess.run([*self.run_as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine was busy so far (every process: others' tests share it)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICK


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serve_supports_workers() -> bool:
    help_text = subprocess.run([str(CLOUD_BIN), "serve", "--help"], capture_output=True, text=True).stdout
    return "--workers" in help_text


INGEST_NICE = -6
# One TLS context for every client (the cloud is plain HTTP here): httpx builds a new one per client
# otherwise, ~25 ms of this process's CPU each, and 200 users starting at once stalled the load generator
# for seconds inside the measured window (it looked like the cloud stalling).
_NO_TLS_CONTEXT = ssl.create_default_context()


class CloudProcess:
    """One ``guardian-cloud serve`` (with its uvicorn workers), in its own session so it is stopped as a group."""

    def __init__(self, name: str, workdir: Path, config: str, workers: int, with_flag: bool, nice: int = 0) -> None:
        self.name, self.workers = name, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        path = workdir / f"{name}.toml"
        path.write_text(config)
        self.log_path = workdir / f"{name}.log"
        cmd = [str(CLOUD_BIN), "serve", "-c", str(path), "--host", "127.0.0.1", "--port", str(self.port)]
        if with_flag:
            cmd += ["--workers", str(workers)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, cwd=ROOT,
                                         preexec_fn=(lambda: os.nice(nice)) if nice else None)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200 and (
                    self.workers == 1 or len(self.pids()) > self.workers
                ):
                    time.sleep(1.0)  # the other workers finish their start-up too
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pids())

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        # uvicorn's supervisor replaces a worker that died or missed its health check: say so, a replaced
        # worker is lost throughput (and dropped connections) that the figures alone would not explain.
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace")
            replaced = text.count("Child process [") - text.count("failed to start")
            if replaced:
                print(f"  ({self.name}: {replaced} worker(s) replaced by the supervisor; log kept at "
                      f"{shutil.copy(self.log_path, Path(tempfile.gettempdir()) / self.log_path.name)})")
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"  ({self.name} did not stop in 15 s after SIGTERM; killed)")
        with contextlib.suppress(ProcessLookupError):  # anything left of its session (the group we started)
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def cloud_config(secret: str, signing_key: str, db_url: str, workers: int) -> str:
    return "\n".join([
        f'secret_key = "{secret}"',
        f'signing_key = "{signing_key}"',
        'log_level = "WARNING"',
        "[database]",
        f'url = "{db_url}"',
        f"pool_size = {POOL_SIZE}",
        f"service_pool_size = {SERVICE_POOL_SIZE}",
        "[http]",
        f"workers = {workers}",
        "",
    ])


# --- seed --------------------------------------------------------------------------------------------


@dataclass
class TenantSeed:
    id: str
    relay_id: str
    relay_key: str  # the relay's private key (text), for signing
    device: str
    tokens: list[str] = field(default_factory=list)  # one member access token each
    clip_event_ids: list[str] = field(default_factory=list)


@dataclass
class Seed:
    api: list[TenantSeed]
    live: TenantSeed
    watcher_token: str  # a member of api[0], for the end-to-end "visible in the list" check
    events: int


def seed(pg: Postgres, secret: str, users: int, sse_clients: int, events_per_tenant: int) -> Seed:
    sessions = make_sessionmaker(make_engine(pg.url))
    per_tenant = -(-users // API_TENANTS)
    tenants: list[TenantSeed] = []
    with sessions() as session:

        def tenant(name: str, members: int) -> TenantSeed:
            row = Tenant(name=name)
            session.add(row)
            session.flush()
            key = auth.generate_private_key()
            relay = Relay(name=f"relay-{name}", endpoint_url=f"https://relay-{name}.example.org",
                          public_key=auth.public_key_to_text(key), tenant_id=row.id)
            device = f"edge-{name}"
            session.add_all([relay, Device(id=device, tenant_id=row.id, name=device)])
            session.flush()
            session.add_all(Camera(tenant_id=row.id, device_id=device, name=c, display_name=c) for c in CAMERAS)
            people = [User(email=f"m{n}@{name}.bench.example.org", tenant_id=row.id, role="viewer")
                      for n in range(members)]
            session.add_all(people)
            session.flush()
            tokens = [make_access_token(secret, user_id=u.id, token_version=0, minutes=60)[0] for u in people]
            return TenantSeed(row.id, relay.id, auth.private_key_to_text(key), device, tokens)

        tenants = [tenant(f"t{n}", per_tenant + (1 if n == 0 else 0)) for n in range(API_TENANTS)]
        live = tenant("live", max(sse_clients, 1))
        session.commit()
    watcher_token = tenants[0].tokens.pop()
    now = datetime.now(UTC)
    rng = random.Random(7)
    with psycopg.connect(pg.dsn) as conn:
        with conn.cursor() as cur, cur.copy(
            "COPY events (tenant_id, id, device_id, camera, label, start_at, end_at, confidence, has_clip, received_at)"
            " FROM STDIN"
        ) as copy:
            for t in tenants:
                for _ in range(events_per_tenant):
                    event_id, has_clip = str(uuid.uuid4()), rng.random() < 0.75
                    # Spread over six days, at least a minute old: what the relay posts now is always newest.
                    start = now - timedelta(seconds=60 + rng.randrange(6 * 86400))
                    copy.write_row((t.id, event_id, t.device, rng.choice(CAMERAS), rng.choice(LABELS), start,
                                    start + timedelta(seconds=8), 3, has_clip, now))
                    if has_clip and len(t.clip_event_ids) < 200:
                        t.clip_event_ids.append(event_id)
        conn.commit()
        conn.execute("ANALYZE")
    return Seed(tenants, live, watcher_token, events_per_tenant * len(tenants))


# --- the simulated relay (a child process: its timing is not disturbed by the users' event loop) -----


def make_batch(relay_id: str, device: str, count: int, start: datetime, rng: random.Random) -> tuple[bytes, str]:
    """A batch of ``count`` events; the first starts exactly at ``start`` (found again by that time)."""
    batch = ingest_pb2.IngestBatch(relay_id=relay_id)
    first = ""
    for i in range(count):
        event_id = str(uuid.uuid4())
        first = first or event_id
        ev = batch.events.add(event_id=event_id, device_id=device, camera=rng.choice(CAMERAS),
                              label=rng.choice(LABELS), confidence=ingest_pb2.CONFIDENCE_HIGH, has_clip=True)
        ev.start.FromDatetime(start - timedelta(milliseconds=i))
        ev.end.FromDatetime(start + timedelta(seconds=6))
    return json_format.MessageToJson(batch, indent=None).encode(), first


def signed_post_headers(key: Any, relay_id: str, body: bytes) -> dict[str, str]:
    headers = auth.sign_relay_request(key, relay_id=relay_id, method="POST", path="/api/v1/ingest", body=body)
    return {**headers, "Content-Type": "application/json"}


async def relay_simulation(spec: dict[str, Any]) -> dict[str, Any]:
    """Post signed batches every ``period`` seconds for ``duration`` (recorded after ``skip``), and follow
    one batch at a time until its first event shows in the watcher's event list (end to end)."""
    loop = asyncio.get_running_loop()
    key = auth.private_key_from_text(spec["key"])
    rng = random.Random(spec["seed"])
    started = loop.time()
    record_from, stop_at = started + spec["skip"], started + spec["skip"] + spec["duration"]
    posts: list[float] = []
    statuses: Counter[str] = Counter()
    visible: list[float] = []
    follow: asyncio.Queue[tuple[str, datetime, float]] = asyncio.Queue(maxsize=1)

    async def watch(client: httpx.AsyncClient) -> None:
        while True:
            event_id, start, sent = await follow.get()
            window: dict[str, str | int] = {"since": start.isoformat(), "limit": 5,
                                            "until": (start + timedelta(milliseconds=1)).isoformat()}
            while loop.time() < stop_at + 30:
                with contextlib.suppress(httpx.HTTPError):
                    r = await client.get("/api/v1/events", params=window)
                    if r.status_code == 200 and any(e["id"] == event_id for e in r.json()["items"]):
                        visible.append(loop.time() - sent)
                        break
                await asyncio.sleep(0.02)

    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(verify=_NO_TLS_CONTEXT, base_url=spec["ingest_url"], limits=limits, timeout=60) as relay, \
            httpx.AsyncClient(verify=_NO_TLS_CONTEXT, base_url=spec["watch_url"], limits=limits, timeout=60,
                              headers={"Authorization": f"Bearer {spec['watch_token']}"}) as watcher:
        watch_task = asyncio.create_task(watch(watcher))
        cpu0 = time.process_time()
        next_at = loop.time()
        batches = events = 0
        while loop.time() < stop_at:
            count = rng.randint(1, 5)
            start = datetime.now(UTC)
            body, first = make_batch(spec["relay_id"], spec["device"], count, start, rng)
            sent = loop.time()
            try:
                r = await relay.post("/api/v1/ingest", content=body,
                                     headers=signed_post_headers(key, spec["relay_id"], body))
                status = str(r.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            if sent >= record_from:
                posts.append(loop.time() - sent)
                statuses[status] += 1
                batches, events = batches + 1, events + count
                if status == "200" and not follow.full():
                    follow.put_nowait((first, start, sent))
            next_at = max(next_at + spec["period"], loop.time())  # late: the next one at once, no burst
            await asyncio.sleep(max(0.0, next_at - loop.time()))
        cpu = time.process_time() - cpu0
        watch_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch_task
    return {"posts": posts, "statuses": dict(statuses), "visible": visible, "cpu": cpu, "batches": batches,
            "events": events}


@dataclass
class IngestFigures:
    posts: list[float]
    statuses: dict[str, int]
    visible: list[float]
    cpu: float
    batches: int
    events: int


class RelayChild:
    """``relay_simulation`` in a child process (this script with ``--relay-sim``): started, ready, awaited."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).resolve()), "--relay-sim", json.dumps(self.spec),
            stdout=asyncio.subprocess.PIPE, start_new_session=True)
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()  # "ready" once imports are done
        if line.strip() != b"ready":
            raise RuntimeError("the relay simulation did not start")

    async def result(self) -> IngestFigures:
        assert self.proc is not None and self.proc.stdout is not None
        out = await self.proc.stdout.read()
        await self.proc.wait()
        return IngestFigures(**json.loads(out))

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()


# --- API users ---------------------------------------------------------------------------------------


@dataclass
class LevelFigures:
    users: int
    seconds: float
    latencies: list[float]
    by_kind: dict[str, list[float]]
    statuses: Counter[str]
    cloud_cpu: float  # CPU seconds of the API workers in the window
    ingest_cpu: float  # CPU seconds of the ingest worker in the window
    pg_cpu: float  # CPU seconds of PostgreSQL in the window
    loadgen_cpu: float
    machine_cpu: float  # CPU seconds of the whole machine in the window
    ingest: IngestFigures | None

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


def user_request(kind: str, tenant: TenantSeed, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    """(method, path, httpx keyword arguments) of one request of ``kind``."""
    if kind == "list":
        return "GET", "/api/v1/events", {"params": {"limit": 50}}
    if kind == "filtered":
        return "GET", "/api/v1/events", {"params": {"limit": 50, "camera": rng.choice(CAMERAS),
                                                    "label": rng.choice(LABELS)}}
    if kind == "counts":
        return "GET", "/api/v1/events/counts", {"params": {"group_by": "label"}}
    event_id = rng.choice(tenant.clip_event_ids)
    return "POST", f"/api/v1/events/{event_id}/clip-token", {"json": {"scopes": ["clip"]}}


async def api_user(base_url: str, tenant: TenantSeed, token: str, seed_value: int, window: list[float],
                   stop: asyncio.Event, out: list[tuple[str, str, float]]) -> None:
    """Closed loop: one request after the other on one connection until ``stop``; records those that end
    inside ``window`` (loop times [start, end])."""
    loop = asyncio.get_running_loop()
    rng = random.Random(seed_value)
    kinds, weights = zip(*MIX, strict=True)
    async with httpx.AsyncClient(verify=_NO_TLS_CONTEXT, base_url=base_url, limits=httpx.Limits(max_connections=1), timeout=60,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        while not stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            method, path, kwargs = user_request(kind, tenant, rng)
            sent = loop.time()
            try:
                status = str((await client.request(method, path, **kwargs)).status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            done = loop.time()
            if window[0] <= done <= window[1]:
                out.append((kind, status, done - sent))


async def run_level(api: CloudProcess, ingest_target: CloudProcess | None, ingest_proc: CloudProcess, pg: Postgres,
                    seed_: Seed, users: int, duration: float, warmup: float) -> LevelFigures:
    """``users`` closed-loop users for ``warmup + duration`` s (figures from the last ``duration`` s), with the
    simulated relay posting to ``ingest_target`` (none: no ingest)."""
    loop = asyncio.get_running_loop()
    relay: RelayChild | None = None
    if ingest_target is not None:
        t0 = seed_.api[0]
        relay = RelayChild({"ingest_url": ingest_target.url, "watch_url": api.url, "watch_token": seed_.watcher_token,
                            "relay_id": t0.relay_id, "key": t0.relay_key, "device": t0.device, "period": 0.1,
                            "skip": warmup, "duration": duration, "seed": users})
    try:
        if relay is not None:
            await relay.start()
        stop = asyncio.Event()
        start = loop.time()
        window = [start + warmup, start + warmup + duration]
        out: list[tuple[str, str, float]] = []
        tasks = [asyncio.create_task(api_user(api.url, seed_.api[i % API_TENANTS], seed_.api[i % API_TENANTS].tokens[i // API_TENANTS],
                                              i, window, stop, out)) for i in range(users)]
        await asyncio.sleep(max(0.0, window[0] - loop.time()))
        cpu = api.cpu(), ingest_proc.cpu(), pg.cpu(), own_cpu_seconds(), machine_busy_seconds()
        await asyncio.sleep(max(0.0, window[1] - loop.time()))
        cpu_api, cpu_ingest, cpu_pg, cpu_own, cpu_machine = (
            b - a for a, b in zip(cpu, (api.cpu(), ingest_proc.cpu(), pg.cpu(), own_cpu_seconds(),
                                        machine_busy_seconds()), strict=True))
        stop.set()
        await asyncio.gather(*tasks)
        ingest = await relay.result() if relay is not None else None
    finally:
        if relay is not None:
            relay.kill()
    by_kind: dict[str, list[float]] = {}
    for kind, status, seconds in out:
        if status.startswith("2"):
            by_kind.setdefault(kind, []).append(seconds)
    ok = [s for _, status, s in out if status.startswith("2")]
    return LevelFigures(users, duration, ok, by_kind, Counter(status for _, status, _ in out), cpu_api, cpu_ingest,
                        cpu_pg, cpu_own, cpu_machine, ingest)


@dataclass
class Scenario:
    title: str
    workers: int
    shared: bool  # ingest posted to the API workers (no ingest worker)
    idle: IngestFigures | None = None
    levels: list[LevelFigures] = field(default_factory=list)
    processes: int = 0


async def run_scenario(scenario: Scenario, api: CloudProcess, ingest_proc: CloudProcess, pg: Postgres, seed_: Seed,
                       levels: list[int], duration: float, warmup: float) -> None:
    ingest_target = api if scenario.shared else ingest_proc
    scenario.processes = len(api.pids())
    # Warm up connections, caches and the workers' imports; not recorded.
    await run_level(api, None, ingest_proc, pg, seed_, min(20, max(levels)), max(2.0, warmup), 0.0)
    idle = await run_level(api, ingest_target, ingest_proc, pg, seed_, 0, duration, warmup)
    scenario.idle = idle.ingest
    for users in levels:
        figures = await run_level(api, ingest_target, ingest_proc, pg, seed_, users, duration, warmup)
        scenario.levels.append(figures)
        print(f"  {scenario.title}: {users} users {figures.rate:.0f} req/s", flush=True)


# --- SSE fan-out -------------------------------------------------------------------------------------


@dataclass
class SseFigures:
    clients: int
    connected: int
    refused: Counter[str]
    connect_seconds: float
    events: int
    latencies: list[float]
    missing: int
    clients_missing: int
    cloud_cpu: float
    pg_cpu: float
    loadgen_cpu: float


class SseClient:
    """A minimal HTTP/1.1 SSE reader on a raw socket (cheap enough for thousands in one process)."""

    def __init__(self, host: str, port: int, token: str, got: dict[str, float], on_event: asyncio.Event,
                 counter: list[int]) -> None:
        self.host, self.port, self.token = host, port, token
        self.got, self.on_event, self.counter = got, on_event, counter
        self.connected = asyncio.Event()
        self.status = ""
        self.writer: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        try:
            reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write((f"GET /api/v1/events/stream HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                               f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n").encode())
            status_line = await reader.readline()
            self.status = status_line.split(b" ")[1].decode() if b" " in status_line else "no answer"
            if self.status != "200":
                return
            while (await reader.readline()) not in (b"\r\n", b""):
                pass  # headers
            while line := await reader.readline():
                if line.startswith(b"data: "):
                    # The message's id: line is a resume cursor; the event's id is in its JSON.
                    at = line.find(b'"id":"') + 6
                    event_id = line[at:line.index(b'"', at)].decode() if at > 5 else ""
                    if event_id and event_id not in self.got:
                        self.got[event_id] = time.time()
                        self.counter[0] += 1
                        self.on_event.set()
                elif line.startswith(b": connected"):
                    self.connected.set()
        except OSError as exc:
            self.status = self.status or type(exc).__name__
        finally:
            self.connected.set()  # never wait for a client that failed
            self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def sse_fanout(api: CloudProcess, ingest_proc: CloudProcess, pg: Postgres, live: TenantSeed, clients: int, events: int,
                     interval: float) -> SseFigures:
    loop = asyncio.get_running_loop()
    delivered = [0]
    on_event = asyncio.Event()
    received: list[dict[str, float]] = [{} for _ in range(clients)]
    readers = [SseClient("127.0.0.1", api.port, live.tokens[i], received[i], on_event, delivered) for i in range(clients)]
    opening = asyncio.Semaphore(100)  # connect in waves, not 2,000 SYNs at once

    async def open_one(client: SseClient) -> None:
        async with opening:
            task = asyncio.create_task(client.run())
            await client.connected.wait()
        await task

    tasks = [asyncio.create_task(open_one(c)) for c in readers]
    cpu_api, cpu_pg, cpu_own = api.cpu() + ingest_proc.cpu(), pg.cpu(), own_cpu_seconds()
    try:
        started = loop.time()
        with contextlib.suppress(TimeoutError):  # those not connected by then count as not connected
            async with asyncio.timeout(120):
                await asyncio.gather(*(c.connected.wait() for c in readers))
        connect_seconds = loop.time() - started
        connected = [i for i, c in enumerate(readers) if c.status == "200"]
        key = auth.private_key_from_text(live.relay_key)
        rng = random.Random(clients)
        sent_at: dict[str, float] = {}
        async with httpx.AsyncClient(verify=_NO_TLS_CONTEXT, base_url=ingest_proc.url, timeout=60) as relay:
            for _ in range(events):
                body, event_id = make_batch(live.relay_id, live.device, 1, datetime.now(UTC), rng)
                sent_at[event_id] = time.time()
                r = await relay.post("/api/v1/ingest", content=body, headers=signed_post_headers(key, live.relay_id, body))
                if r.status_code != 200:
                    print(f"  SSE ingest answered {r.status_code}: {r.text[:200]}")
                await asyncio.sleep(interval)
        # Wait until every connected client has every event, or 30 s after the last one.
        expected = len(connected) * events
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                while delivered[0] < expected:
                    on_event.clear()
                    await on_event.wait()
        cpu_api, cpu_pg = api.cpu() + ingest_proc.cpu() - cpu_api, pg.cpu() - cpu_pg
        cpu_own = own_cpu_seconds() - cpu_own
    finally:
        for c in readers:
            c.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [got[e] - sent for i in connected for e, sent in sent_at.items() if (got := received[i]).get(e)]
    missing_per_client = [sum(1 for e in sent_at if e not in received[i]) for i in connected]
    refused = Counter(c.status for c in readers if c.status != "200")
    return SseFigures(clients, len(connected), refused, connect_seconds, events, latencies, sum(missing_per_client),
                      sum(1 for m in missing_per_client if m), cpu_api, cpu_pg, cpu_own)


# --- report ------------------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value * 1000:7.1f}"


def versus(value: float, base: float) -> str:
    """``value`` in ms beside its ratio to the baseline."""
    if base != base or value != value or base == 0:  # NaN: no figures
        return f"{ms(value)}        "
    return f"{ms(value)} (×{value / base:4.1f})"


def errors(statuses: Counter[str]) -> tuple[int, str]:
    busy = statuses.get("503", 0)
    other = ", ".join(f"{k}:{v}" for k, v in sorted(statuses.items()) if not k.startswith("2") and k != "503")
    return busy, other or "-"


def print_scenario(s: Scenario) -> None:
    print(f"\n{s.title} ({s.processes} processes in the API's tree; latencies in ms, ×: versus 1 user / idle ingest)")
    base = s.levels[0] if s.levels else None
    b50, b95, b99 = ((pct(base.latencies, q) for q in (.5, .95, .99)) if base else (float("nan"),) * 3)
    idle_p50 = pct(s.idle.posts, .5) if s.idle else float("nan")
    idle_p95 = pct(s.idle.posts, .95) if s.idle else float("nan")
    idle_e2e = pct(s.idle.visible, .5) if s.idle else float("nan")
    print(f"  {'users':>5} {'req/s':>7} {'p50':>16} {'p95':>16} {'p99':>16} {'503':>5} {'other errors':>14} "
          f"{'API CPU':>8} {'ms/req':>6} {'ingest-w CPU':>12} {'PG CPU':>6} {'loadgen CPU':>11} {'others':>6} | "
          f"{'ingest p50':>16} {'ingest p95':>16} {'visible p50':>16} {'visible p95':>8} {'batches ok/sent':>15}")
    if s.idle:
        ok = s.idle.statuses.get("200", 0)
        print(f"  {'idle':>5} {'':>7} {'':>16} {'':>16} {'':>16} {'':>5} {'':>14} {'':>8} {'':>6} {'':>12} {'':>6} {'':>11} {'':>6} | "
              f"{ms(idle_p50):>16} {ms(idle_p95):>16} {ms(idle_e2e):>16} {ms(pct(s.idle.visible, .95)):>8} "
              f"{ok:>7}/{s.idle.batches:<7}")
    for lv in s.levels:
        busy, other = errors(lv.statuses)
        ing = lv.ingest
        cells = ""
        if ing:
            ok = ing.statuses.get("200", 0)
            cells = (f"{versus(pct(ing.posts, .5), idle_p50):>16} {versus(pct(ing.posts, .95), idle_p95):>16} "
                     f"{versus(pct(ing.visible, .5), idle_e2e):>16} {ms(pct(ing.visible, .95)):>8} {ok:>7}/{ing.batches:<7}")
            if ok != ing.batches:
                cells += " " + ", ".join(f"{k}:{v}" for k, v in ing.statuses.items() if k != "200")
        per_request = lv.cloud_cpu / max(1, len(lv.latencies) + sum(v for k, v in lv.statuses.items() if not k.startswith("2")))
        loadgen = lv.loadgen_cpu + (ing.cpu if ing else 0.0)
        others = lv.machine_cpu - lv.cloud_cpu - lv.ingest_cpu - lv.pg_cpu - loadgen
        print(f"  {lv.users:>5} {lv.rate:7.1f} {versus(pct(lv.latencies, .5), b50):>16} "
              f"{versus(pct(lv.latencies, .95), b95):>16} {versus(pct(lv.latencies, .99), b99):>16} {busy:>5} "
              f"{other:>14} {lv.cloud_cpu / lv.seconds:6.2f}c {per_request * 1000:6.1f} "
              f"{lv.ingest_cpu / lv.seconds:11.2f}c {lv.pg_cpu / lv.seconds:5.2f}c {loadgen / lv.seconds:10.2f}c {others / lv.seconds:5.2f}c | {cells}")
    if s.levels:
        top = s.levels[-1]
        kinds = "  ".join(f"{k} {ms(pct(v, .5)).strip()}/{ms(pct(v, .95)).strip()}" for k, v in sorted(top.by_kind.items()))
        print(f"  at {top.users} users, p50/p95 ms by kind: {kinds}")


def print_sse(rows: list[SseFigures], workers: int) -> None:
    print(f"\nSSE fan-out ({workers} API worker(s); events posted to the ingest worker, one every interval; "
          "latency: POST sent → data: line read; ×: versus 1 client; CPU: seconds over the whole step)")
    print(f"  {'clients':>7} {'connected':>9} {'connect s':>9} {'p50':>16} {'p95':>16} {'max':>16} "
          f"{'deliveries':>10} {'missing':>7} {'clients missing':>15} {'cloud CPU':>9} {'PG CPU':>7} {'loadgen CPU':>11} refused")
    base = rows[0]
    b50, b95, bmax = pct(base.latencies, .5), pct(base.latencies, .95), max(base.latencies, default=float("nan"))
    for r in rows:
        print(f"  {r.clients:>7} {r.connected:>9} {r.connect_seconds:9.1f} {versus(pct(r.latencies, .5), b50):>16} "
              f"{versus(pct(r.latencies, .95), b95):>16} {versus(max(r.latencies, default=float('nan')), bmax):>16} "
              f"{len(r.latencies):>10} {r.missing:>7} {r.clients_missing:>15} {r.cloud_cpu:8.1f}s {r.pg_cpu:6.1f}s {r.loadgen_cpu:10.1f}s "
              f"{dict(r.refused) or '-'}")


# --- main --------------------------------------------------------------------------------------------


def levels_arg(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def raise_file_limit() -> int:
    """As many open files as allowed (thousands of SSE sockets, here and in the cloud processes started after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same clean shutdown as Ctrl-C


@contextlib.contextmanager
def cloud_processes(workdir: Path, secret: str, signing_key: str, db_url: str, workers: int,
                    with_flag: bool) -> Iterator[tuple[CloudProcess, CloudProcess]]:
    """The API workers and the ingest worker, ready; both stopped on the way out."""
    started: list[CloudProcess] = []
    try:
        started.append(CloudProcess(f"api-w{workers}", workdir, cloud_config(secret, signing_key, db_url, workers),
                                    workers, with_flag))
        # The deploy gives the relay-call process CPUWeight=400 against the API's 100
        # (provisioning/group_data/cloud.py); nice -6 is about the same share (weight 3906 against 1024).
        started.append(CloudProcess(f"ingest-w{workers}", workdir, cloud_config(secret, signing_key, db_url, 1), 1,
                                    with_flag, nice=INGEST_NICE if os.geteuid() == 0 else 0))
        for p in started:
            p.wait_ready()
        yield started[0], started[1]
    finally:
        for p in started:
            p.stop()


async def run(args: argparse.Namespace, workdir: Path, pg: Postgres) -> None:
    secret = "bench-secret-" + uuid.uuid4().hex
    signing_key = auth.private_key_to_text(auth.generate_private_key())
    with_flag = serve_supports_workers()
    workers = sorted(set(args.workers))
    if not with_flag and any(w > 1 for w in workers):
        print(f"note: `guardian-cloud serve` has no --workers yet: running workers 1 only (asked: {workers})")
        workers = [1]
    started = time.perf_counter()
    seed_ = seed(pg, secret, max(args.users), max(args.sse, default=1), args.events)
    print(f"seeded {len(seed_.api)} tenants × {args.events} events, {max(args.users)} API members, "
          f"{max(args.sse, default=1)} live-tenant members in {time.perf_counter() - started:.1f} s")

    scenarios: list[Scenario] = []
    for w in workers:
        scenarios.append(Scenario(f"{w} API worker(s) + ingest worker", w, shared=False))
    scenarios.append(Scenario(f"{workers[-1]} API worker(s), no ingest worker (ingest shares the API workers)",
                              workers[-1], shared=True))
    sse_rows: list[SseFigures] = []
    for scenario in scenarios:
        print(f"running: {scenario.title}", flush=True)
        with cloud_processes(workdir, secret, signing_key, pg.url, scenario.workers, with_flag) as (api, ingest_proc):
            await run_scenario(scenario, api, ingest_proc, pg, seed_, args.users, args.duration, args.warmup)
            if scenario.workers == workers[-1] and not scenario.shared and args.sse:
                for clients in [1, *args.sse]:
                    print(f"  SSE: {clients} clients", flush=True)
                    sse_rows.append(await sse_fanout(api, ingest_proc, pg, seed_.live, clients, args.sse_events,
                                                     args.sse_interval))

    print("\n=== the cloud under load (bench/cloud_load.py) ===")
    print(f"machine: {os.cpu_count()} cores, shared by PostgreSQL (durable, fsync on), the cloud processes and this "
          "load generator (its CPU is printed beside the cloud's: c = cores busy over the window; others: every "
          f"other process on the machine); load average at the end {os.getloadavg()[0]:.2f}")
    if os.geteuid() == 0:
        print(f"ingest worker at nice {INGEST_NICE} (the deploy's CPUWeight 400 against the API's 100)")
    print(f"pools per process: pool_size {POOL_SIZE}, service_pool_size {SERVICE_POOL_SIZE}; "
          f"{args.duration:.0f} s per level after {args.warmup:.0f} s warm-up; mix: "
          + ", ".join(f"{k} {w}%" for k, w in MIX)
          + "; relay: batches of 1-5 events every 100 ms (own process)")
    for scenario in scenarios:
        print_scenario(scenario)
    split = [s for s in scenarios if not s.shared]
    if len(split) > 1 and split[0].levels and split[-1].levels:
        low, high = split[0].levels[-1], split[-1].levels[-1]
        print(f"\nthroughput at {high.users} users: {split[0].workers} worker {low.rate:.1f} req/s, "
              f"{split[-1].workers} workers {high.rate:.1f} req/s → ×{high.rate / low.rate:.2f} (goal ≥ 1.7)")
    shared = next((s for s in scenarios if s.shared), None)
    same = next((s for s in split if shared and s.workers == shared.workers), None)
    if shared and same:
        print(f"\ningest p95 ms, ingest worker vs shared API workers ({shared.workers} worker(s)):")
        pairs = [("idle", same.idle, shared.idle)] + [
            (f"{a.users} users", a.ingest, b.ingest) for a, b in zip(same.levels, shared.levels, strict=True)]
        for label, a, b in pairs:
            if a and b:
                print(f"  {label:>10}: {ms(pct(a.posts, .95))} vs {ms(pct(b.posts, .95))}   "
                      f"(visible p95 {ms(pct(a.visible, .95))} vs {ms(pct(b.visible, .95))})")
    if sse_rows:
        print_sse(sse_rows, workers[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short levels: a smoke run in about 1-2 minutes")
    parser.add_argument("--users", type=levels_arg, default=None, help="user levels, first is the baseline (1,50,100,200)")
    parser.add_argument("--sse", type=levels_arg, default=None, help="SSE client counts (100,500,2000)")
    parser.add_argument("--workers", type=levels_arg, default=[1, 2], help="API worker counts to compare (1,2)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per level (18; quick: 5)")
    parser.add_argument("--events", type=int, default=1500, help="seeded events per tenant")
    parser.add_argument("--relay-sim", help=argparse.SUPPRESS)  # internal: the simulated relay's child process
    args = parser.parse_args()
    if args.relay_sim:
        print("ready", flush=True)
        print(json.dumps(asyncio.run(relay_simulation(json.loads(args.relay_sim)))))
        return 0
    args.users = args.users or ([1, 50] if args.quick else [1, 50, 100, 200])
    args.sse = args.sse if args.sse is not None else ([100, 500] if args.quick else [100, 500, 2000])
    args.duration = args.duration or (5.0 if args.quick else 18.0)
    args.warmup = 1.0 if args.quick else 2.0
    args.sse_events = 10 if args.quick else 20
    args.sse_interval = 0.3 if args.quick else 0.5
    print(f"open files allowed: {raise_file_limit()}")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="guardian-bench-load-"))
    pg: Postgres | None = None
    try:
        pg = Postgres()
        migrate(pg.url)
        asyncio.run(run(args, workdir, pg))
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the cloud processes and PostgreSQL")
        # Connection attempts cut short by the interruption are not news.
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
        return 130
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
