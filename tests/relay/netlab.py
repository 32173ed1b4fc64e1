"""A two-host lab for the uplink tests and benchmarks: network namespaces, veth, real processes.

``Lab`` creates a relay namespace and an edge namespace joined by a veth pair (the "internet" between
the relay's public address and the edge), writes the PKI, tokens and configs, and starts the real
programs inside the namespaces: ``guardian-relay run``, ``guardian-edge enrol`` / ``uplink run``, and
on the relay's loopback a cloud stub (the ingestion contract) or the real cloud app
(``start_real_cloud``). Names carry a per-lab id so parallel runs do not clash (WireGuard's control
sockets in /run/wireguard are shared by all namespaces).
Everything is torn down on exit, also after a failure: the processes the lab started (by pid), the
wireguard-go daemons left in its namespaces (by pid), the namespaces.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp

from demo import configs
from guardian.contracts import auth
from guardian.contracts.edge.v1 import uplink_pb2
from tests.relay.pki import make_ca, make_server_cert

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[2]
TENANT = "tenant-a"
RELAY_ID = "relay-a"
RELAY_PUBLIC = "192.168.77.1"
EDGE_PUBLIC = "192.168.77.2"
NETWORK = "10.77.0.0/24"
RELAY_TUNNEL = "10.77.0.1"
ENROL_PORT = 8443
WG_PORT = 51820
UPLINK_PORT = 50051
CLOUD_PORT = 9443


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def make_event(event_id: str | None = None, camera: str = "front", score: float = 0.81, ended: bool = True) -> uplink_pb2.Event:
    start = Timestamp()
    start.FromNanoseconds(time.time_ns() - 5_000_000_000)
    end = Timestamp()
    end.FromNanoseconds(time.time_ns())
    event = uplink_pb2.Event(
        event_id=event_id or str(uuid.uuid4()),
        camera=camera,
        label="person",
        start=start,
        max_score=score,
        mean_score=score - 0.1,
        snapshot_ref="snap/secret-snapshot.jpg",
        clip_ref="clip/secret-clip.mp4",
        clip_duration_s=12.5,
        ended=ended,
    )
    if ended:
        event.end.CopyFrom(end)
    for i in range(3):
        point = event.track.add(score=score - i * 0.01)
        point.at.CopyFrom(start)
        point.box.x_min, point.box.y_min, point.box.x_max, point.box.y_max = 0.1 + i / 100, 0.2, 0.4, 0.9
    return event


class Lab:
    def __init__(self, workdir: Path, *, cloud: bool = True, edge_overrides: configs.Data | None = None,
                 relay_overrides: configs.Data | None = None) -> None:
        self.id = secrets.token_hex(3)
        self.dir = workdir
        self.ns_relay = f"grl-r-{self.id}"
        self.ns_edge = f"grl-e-{self.id}"
        self.wg_relay = f"wgr{self.id}"
        self.wg_edge = f"wge{self.id}"
        self.veth_relay = f"vr{self.id}"
        self.veth_edge = f"ve{self.id}"
        self.cloud_enabled = cloud
        # Merged over the configs below, section by section, e.g. {"uplink": {"batch_size": 16}}.
        self.edge_overrides = edge_overrides or {}
        self.relay_overrides = relay_overrides or {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.token_key = auth.generate_private_key()
        self.relay_signing_key = auth.generate_private_key()

    # --- set-up --------------------------------------------------------------------------------
    def __enter__(self) -> Lab:
        try:
            self._network()
            self._files()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _network(self) -> None:
        sh("ip", "netns", "add", self.ns_relay)
        sh("ip", "netns", "add", self.ns_edge)
        sh("ip", "link", "add", self.veth_relay, "type", "veth", "peer", "name", self.veth_edge)
        sh("ip", "link", "set", self.veth_relay, "netns", self.ns_relay)
        sh("ip", "link", "set", self.veth_edge, "netns", self.ns_edge)
        for ns, dev, addr in (
            (self.ns_relay, self.veth_relay, RELAY_PUBLIC),
            (self.ns_edge, self.veth_edge, EDGE_PUBLIC),
        ):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def _files(self) -> None:
        d = self.dir
        (d / "relay").mkdir(parents=True, exist_ok=True)
        (d / "edge").mkdir(parents=True, exist_ok=True)
        self.ca_cert, ca_key = make_ca(d)
        self.relay_cert, self.relay_key = make_server_cert(
            d, self.ca_cert, ca_key, "relay", [RELAY_PUBLIC, RELAY_TUNNEL]
        )
        self.cloud_cert, self.cloud_key = make_server_cert(d, self.ca_cert, ca_key, "cloud", ["127.0.0.1"])
        signing = d / "relay" / "signing.key"
        signing.write_text(auth.private_key_to_text(self.relay_signing_key))
        signing.chmod(0o600)
        self.relay_db = d / "relay" / "relay.db"
        self.cloud_db = d / "cloud.db"
        self.relay_config = configs.write_relay(d / "relay.toml", {
            "log_level": "info",
            "metrics": {"enabled": False},
            "enrolment": {
                "address": RELAY_PUBLIC, "port": ENROL_PORT,
                "tls_cert_file": self.relay_cert, "tls_key_file": self.relay_key,
                "public_endpoint": f"{RELAY_PUBLIC}:{WG_PORT}",
                "token_public_keys": [auth.public_key_to_text(self.token_key)],
            },
            "tunnel": {
                "interface": self.wg_relay, "implementation": "userspace", "listen_port": WG_PORT,
                "network": NETWORK, "private_key_file": d / "relay" / "wireguard.key", "keepalive_s": 5,
                "reconcile_interval_s": 1.0,
            },
            "uplink": {"port": UPLINK_PORT},
            "cache": {"database": self.relay_db},
            "health": {"offline_after_s": 30, "report_interval_s": 5},
            "cloud": {
                "enabled": self.cloud_enabled, "url": f"https://127.0.0.1:{CLOUD_PORT}", "ca_file": self.ca_cert,
                "relay_id": RELAY_ID, "tenant_id": TENANT, "signing_key_file": signing, "interval_s": 0.05,
                "backoff_max_s": 2.0,
            },
        }, self.relay_overrides)
        self.edge_data = d / "edge" / "data"
        self.edge_db = self.edge_data / "edge.db"
        self.edge_config = configs.write_edge(d / "edge.toml", {
            "log_level": "info",
            "metrics": {"enabled": False},
            "storage": {"data_dir": self.edge_data},
            "cameras": [{"name": "front", "record_url": "rtsp://127.0.0.1:8554/front"}],
            "uplink": {
                "relay_ca_file": self.ca_cert, "interface": self.wg_edge, "implementation": "userspace",
                "heartbeat_interval_s": 1.0, "telemetry_interval_s": 2.0, "backoff_base_s": 0.2,
                "backoff_max_s": 2.0, "tunnel_check_interval_s": 2.0, "ack_timeout_s": 10.0,
            },
        }, self.edge_overrides)

    # --- tokens ----------------------------------------------------------------------------------
    def token(self, *, tenant: str = TENANT, relay: str = RELAY_ID, ttl: int = 600, key: auth.Ed25519PrivateKey | None = None,
              now: float | None = None) -> str:
        return auth.mint_bootstrap_token(
            key or self.token_key, tenant_id=tenant, relay_id=relay, ttl=ttl, label="test edge", now=now
        )

    # --- processes -------------------------------------------------------------------------------
    def _start(self, name: str, ns: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = self.dir / f"{name}.log"
        self.logs[name] = log
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDIAN_", "NOTIFY_SOCKET", "WATCHDOG_"))}
        env["PYTHONPATH"] = str(ROOT)
        handle = log.open("ab")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self.procs[name] = proc
        return proc

    def start_process(self, name: str, ns: str, args: list[str]) -> subprocess.Popen[bytes]:
        """Any other program in one of the lab's namespaces (logged and torn down like the lab's own)."""
        return self._start(name, ns, args)

    def start_cloud(self, fail_first: int = 0) -> None:
        self._start(
            "cloud",
            self.ns_relay,
            [PYTHON, "-m", "tests.relay.cloud_stub", "--db", str(self.cloud_db), "--relay-id", RELAY_ID,
             f"--relay-key={auth.public_key_to_text(self.relay_signing_key)}", "--port", str(CLOUD_PORT),
             "--cert", str(self.cloud_cert), "--key", str(self.cloud_key), "--fail-first", str(fail_first)],
        )
        wait_for(lambda: self.cloud_db.exists() and self.port_open(self.ns_relay, "127.0.0.1", CLOUD_PORT), 20, "cloud stub")

    def start_real_cloud(self, values: dict[str, object]) -> None:
        """The real cloud app (:mod:`tests.relay.cloud_real`) on the relay's loopback over HTTPS, with
        ``values`` (CloudSettings; its database prepared with :func:`tests.relay.cloud_real.prepare`)."""
        from tests.relay.cloud_real import write_settings

        settings = write_settings(self.dir / "cloud-settings.json", values)
        self._start(
            "cloud",
            self.ns_relay,
            [PYTHON, "-m", "tests.relay.cloud_real", "--settings", str(settings), "--port", str(CLOUD_PORT),
             "--cert", str(self.cloud_cert), "--key", str(self.cloud_key)],
        )
        wait_for(lambda: self.port_open(self.ns_relay, "127.0.0.1", CLOUD_PORT), 30, "the cloud")

    def start_relay(self) -> None:
        self._start("relay", self.ns_relay, [PYTHON, "-m", "agents.relay.cli", "run", "-c", str(self.relay_config)])
        wait_for(lambda: self.port_open(self.ns_relay, RELAY_PUBLIC, ENROL_PORT), 30, "relay enrolment endpoint",)

    def start_edge(self) -> subprocess.Popen[bytes]:
        return self._start("edge", self.ns_edge, [PYTHON, "-m", "agents.edge.cli", "uplink", "run", "-c", str(self.edge_config)])

    def enrol(self, token: str, *extra: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        token_file = self.dir / f"token-{secrets.token_hex(4)}"
        token_file.write_text(token)
        token_file.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_")}
        env["PYTHONPATH"] = str(ROOT)
        proc = subprocess.run(
            ["ip", "netns", "exec", self.ns_edge, PYTHON, "-m", "agents.edge.cli", "enrol", "-c", str(config or self.edge_config),
             "--relay", f"{RELAY_PUBLIC}:{ENROL_PORT}", "--token-file", str(token_file), *extra],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
        )
        token_file.unlink()
        return proc

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        # `ip netns exec` execs the program, so the pid is the agent's own.
        os.kill(proc.pid, sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            return proc.wait(5)

    def kill9(self, name: str) -> None:
        self.stop(name, signal.SIGKILL)

    # --- impairments (this kernel has no sch_netem: loss via nftables, slowness via tbf) ---------
    def lose(self, percent: int) -> None:
        """Drop ``percent`` % of the tunnel's UDP packets at random, in both directions."""
        for ns in (self.ns_edge, self.ns_relay):
            sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "guardian_lossy")
            sh("ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "guardian_lossy", "input",
               "{ type filter hook input priority 0; policy accept; }")
            sh("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "guardian_lossy", "input",
               "meta", "l4proto", "udp", "numgen", "random", "mod", "100", "<", str(percent), "drop")

    def heal(self) -> None:
        for ns in (self.ns_edge, self.ns_relay):
            sh("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "guardian_lossy", check=False)

    def throttle(self, rate: str) -> None:
        """Limit the edge's upstream bandwidth (token bucket) so delivery takes a while."""
        sh("ip", "netns", "exec", self.ns_edge, "tc", "qdisc", "replace", "dev", self.veth_edge, "root",
           "tbf", "rate", rate, "burst", "8kbit", "latency", "5s")

    def unthrottle(self) -> None:
        sh("ip", "netns", "exec", self.ns_edge, "tc", "qdisc", "del", "dev", self.veth_edge, "root", check=False)

    # --- probes ----------------------------------------------------------------------------------
    def port_open(self, ns: str, host: str, port: int, timeout: float = 1.0) -> bool:
        code = (
            "import socket,sys\n"
            f"s=socket.socket(); s.settimeout({timeout})\n"
            f"sys.exit(0 if s.connect_ex(({host!r},{port}))==0 else 1)"
        )
        return sh("ip", "netns", "exec", ns, PYTHON, "-c", code, check=False).returncode == 0

    def relay_query(self, sql: str, args: tuple = ()) -> list[tuple]:
        if not self.relay_db.exists():
            return []
        with sqlite3.connect(self.relay_db, timeout=10) as db:
            return db.execute(sql, args).fetchall()

    def relay_event_count(self) -> int:
        try:
            return self.relay_query("SELECT COUNT(*) FROM events")[0][0]
        except sqlite3.OperationalError:
            return 0

    def cloud_query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with sqlite3.connect(self.cloud_db, timeout=10) as db:
            return db.execute(sql, args).fetchall()

    def edge_sessions(self):
        from agents.edge.db import open_database

        return open_database(self.edge_db)

    def enqueue_events(self, count: int, batch: int = 500) -> list[str]:
        from agents.edge.outbox import OutboxKind, enqueue

        engine, sessions = self.edge_sessions()
        ids = []
        try:
            for start in range(0, count, batch):
                with sessions() as session, session.begin():
                    for _ in range(min(batch, count - start)):
                        event = make_event()
                        enqueue(session, OutboxKind.EVENT, event.event_id, event.SerializeToString())
                        ids.append(event.event_id)
        finally:
            engine.dispose()
        return ids

    def outbox_length(self) -> int:
        with sqlite3.connect(self.edge_db, timeout=10) as db:
            return db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 0").fetchone()[0]

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs.get(name)
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # --- tear-down -------------------------------------------------------------------------------
    def close(self) -> None:
        for name in list(self.procs):
            with contextlib.suppress(ProcessLookupError, OSError):
                self.stop(name, timeout=5)
        for ns in (self.ns_edge, self.ns_relay):
            # wireguard-go daemons the agents started in this namespace: end them by pid.
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", ns, check=False)
        for sock in (f"/run/wireguard/{self.wg_relay}.sock", f"/run/wireguard/{self.wg_edge}.sock"):
            Path(sock).unlink(missing_ok=True)
