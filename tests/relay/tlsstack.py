"""A real relay and a real edge uplink on loopback in ``tunnel.mode = "tls"`` (the demo mode).

No namespaces and no root needed: the relay (``guardian-relay run``) and the edge (``guardian-edge
enrol`` + ``uplink run``) run as their own processes with generated PKI, the edge enrols over HTTPS
with a bootstrap token, and gets a client certificate. Events are written into the edge's real events
table (:class:`agents.edge.events.store.EventStore`) with media files under its data dir.
Used by tests/relay/test_media_http.py and bench/clip_relay.py.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from demo import configs
from guardian.contracts import auth
from tests.relay.pki import make_ca, make_server_cert

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TENANT = "tenant-demo"
RELAY_ID = "relay-demo"
UI_ORIGIN = "https://app.guardian.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class TlsStack:
    def __init__(self, workdir: Path, relay_overrides: dict | None = None, edge_overrides: dict | None = None) -> None:
        """``relay_overrides`` / ``edge_overrides``: merged over the generated relay.toml / edge.toml."""
        self.dir = workdir
        self._overrides = (relay_overrides or {}, edge_overrides or {})
        self.dir.mkdir(parents=True, exist_ok=True)
        self.token_key = auth.generate_private_key()
        self.enrol_port, self.uplink_port, self.media_port = free_port(), free_port(), free_port()
        self.network = f"127.{random.randint(80, 250)}.{random.randint(0, 250)}.0/24"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self._files()

    # --- set-up --------------------------------------------------------------------------------
    def _files(self) -> None:
        d = self.dir
        (d / "pki-server").mkdir(exist_ok=True)
        (d / "pki-devices").mkdir(exist_ok=True)
        self.ca_cert, ca_key = make_ca(d / "pki-server", "Guardian demo relay CA")
        self.relay_cert, self.relay_key = make_server_cert(d / "pki-server", self.ca_cert, ca_key, "relay", ["127.0.0.1"])
        self.device_ca, self.device_ca_key = make_ca(d / "pki-devices", "Guardian demo device CA")
        self.relay_state = d / "relay-state"
        self.relay_state.mkdir(exist_ok=True)
        self.relay_db = self.relay_state / "relay.db"
        self.relay_config = configs.write_relay(d / "relay.toml", {
            "log_level": "info",
            "metrics": {"enabled": False},
            "enrolment": {
                "address": "127.0.0.1", "port": self.enrol_port,
                "tls_cert_file": self.relay_cert, "tls_key_file": self.relay_key,
                "public_endpoint": f"127.0.0.1:{self.enrol_port}",
                "token_public_keys": [auth.public_key_to_text(self.token_key)],
                "client_ca_file": self.device_ca, "client_ca_key_file": self.device_ca_key,
            },
            "tunnel": {"mode": "tls", "network": self.network, "private_key_file": self.relay_state / "wireguard.key"},
            "uplink": {"port": self.uplink_port, "tls_listen_address": "127.0.0.1", "edge_media_port": self.media_port},
            "cache": {"database": self.relay_db},
            "cloud": {"enabled": False, "relay_id": RELAY_ID, "tenant_id": TENANT,
                      "signing_key_file": self.relay_state / "signing.key"},
            "media": {"cors_origins": [UI_ORIGIN], "public_url": self.relay_url},
        }, self._overrides[0])
        self.edge_data = d / "edge-data"
        self.edge_db = self.edge_data / "edge.db"
        self.edge_config = configs.write_edge(d / "edge.toml", {
            "log_level": "info",
            "metrics": {"enabled": False},
            "storage": {"data_dir": self.edge_data},
            "cameras": [{"name": "front", "record_url": "rtsp://127.0.0.1:8554/front"}],
            "uplink": {
                "mode": "tls", "relay_ca_file": self.ca_cert, "detector_metrics_url": "",
                "heartbeat_interval_s": 30.0, "telemetry_interval_s": 600.0, "backoff_base_s": 0.2,
                "backoff_max_s": 2.0,
            },
        }, self._overrides[1])

    @property
    def relay_url(self) -> str:
        return f"https://127.0.0.1:{self.enrol_port}"

    # --- processes -------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDIAN_", "NOTIFY_SOCKET", "WATCHDOG_"))}
        env["PYTHONPATH"] = str(ROOT)
        return env

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = self.dir / f"{name}.log"
        self.logs[name] = log
        proc = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=self._env(), cwd=ROOT)
        self.procs[name] = proc
        return proc

    def start_relay(self) -> None:
        self._start("relay", [PYTHON, "-m", "agents.relay.cli", "run", "-c", str(self.relay_config)])
        wait_for(lambda: port_open("127.0.0.1", self.enrol_port), 30, "the relay's HTTPS listener")

    def token(self, **kwargs: object) -> str:
        return auth.mint_bootstrap_token(self.token_key, tenant_id=TENANT, relay_id=RELAY_ID, ttl=600,
                                           label="demo edge", **kwargs)  # type: ignore[arg-type]

    def enrol(self, token: str | None = None) -> subprocess.CompletedProcess[str]:
        token_file = self.dir / f"token-{secrets.token_hex(4)}"
        token_file.write_text(token or self.token())
        try:
            return subprocess.run(
                [PYTHON, "-m", "agents.edge.cli", "enrol", "-c", str(self.edge_config),
                 "--relay", f"127.0.0.1:{self.enrol_port}", "--token-file", str(token_file)],
                check=False, capture_output=True, text=True, env=self._env(), cwd=ROOT, timeout=60,
            )
        finally:
            token_file.unlink()

    @property
    def device_id(self) -> str:
        import json

        return json.loads((self.edge_data / "uplink" / "enrolment.json").read_text())["device_id"]

    @property
    def device_address(self) -> str:
        import json

        return json.loads((self.edge_data / "uplink" / "enrolment.json").read_text())["tunnel_address"]

    def start_edge(self) -> None:
        self._start("edge", [PYTHON, "-m", "agents.edge.cli", "uplink", "run", "-c", str(self.edge_config)])
        wait_for(lambda: port_open(self.device_address, self.media_port), 30, "the edge's EdgeMedia server")

    def stop(self, name: str, timeout: float = 15) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name, timeout=5)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs.get(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path and path.exists() else ""

    # --- edge events and media ----------------------------------------------------------------
    def add_event(self, clip: bytes | None, snapshot: bytes | None = None, thumbnail: bytes | None = None,
                  track: list[list[float]] | None = None) -> str:
        """An ended event in the edge's events table (queued for the relay), with its media files;
        ``track``: the edge's points ``[unix time, x_min, y_min, x_max, y_max, score]``."""
        from agents.edge.db import open_database
        from agents.edge.db.tables import EventRow
        from agents.edge.events.store import EventStore

        event_id = str(uuid.uuid4())
        start = datetime.now(UTC) - timedelta(seconds=30)
        day = start.strftime("%Y-%m-%d")
        base = f"events/front/{day}/{event_id}"
        refs = {}
        for ref, data in ((f"{base}.mp4", clip), (f"{base}.jpg", snapshot), (f"{base}-thumb.jpg", thumbnail)):
            if data is not None:
                path = self.edge_data / ref
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                refs[ref] = True
        engine, sessions = open_database(self.edge_db)
        try:
            EventStore(sessions).save(EventRow(
                id=event_id, camera="front", label="person", model="nanodet@test", start_at=start,
                end_at=start + timedelta(seconds=8), ended=True, max_score=0.8, mean_score=0.7, hits=12,
                snapshot_ref=f"{base}.jpg" if snapshot is not None else "",
                thumbnail_ref=f"{base}-thumb.jpg" if thumbnail is not None else "",
                clip_ref=f"{base}.mp4" if clip is not None else "",
                clip_start=start - timedelta(seconds=5), clip_end=start + timedelta(seconds=13),
                clip_duration_s=18.0 if clip is not None else 0.0, track_json=json.dumps(track or []),
            ))
        finally:
            engine.dispose()
        return event_id

    def clip_path(self, event_id: str) -> Path:
        return next((self.edge_data / "events").rglob(f"{event_id}.mp4"))

    def relay_events(self) -> set[str]:
        if not self.relay_db.exists():
            return set()
        try:
            with sqlite3.connect(self.relay_db, timeout=10) as db:
                return {row[0] for row in db.execute("SELECT event_id FROM events")}
        except sqlite3.OperationalError:
            return set()

    # --- clip tokens (what the cloud mints) ------------------------------------------------------
    def clip_token(self, event_id: str, *, scopes: tuple[str, ...] = ("clip", "snapshot", "thumbnail"),
                   tenant: str = TENANT, device: str | None = None, key: auth.Ed25519PrivateKey | None = None, ttl: int = 300,
                   now: float | None = None, relay_url: str | None = None,
                   token_format: auth.TokenFormat = "jwt") -> str:
        return auth.mint_clip_token(
            key or self.token_key, tenant_id=tenant, device_id=device or self.device_id, event_id=event_id,
            scopes=scopes, relay_url=relay_url or self.relay_url, ttl=ttl, now=now, token_format=token_format,
        )

    def media_url(self, event_id: str, name: str = "clip.mp4") -> str:
        return f"{self.relay_url}/media/v1/events/{event_id}/{name}"
