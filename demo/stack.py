"""The demo stack: configs and secrets in a state directory, and the start order of the real programs.

State directory (``$GUARDIAN_DEMO_DIR``, default ``~/.local/state/guardian-demo``)::

    demo.json                what was provisioned (ids, the demo login, ports); a re-run reuses it
    credentials/cloud/       the cloud's secrets as systemd-style credential files (secret_key, signing_key)
    pki/                     demo CA + the relay's HTTPS certificate; the CA that signs edge client certs
    cloud/cloud.toml, cloud.db
    relay/relay.toml, relay.db, relay-signing.key
    edge/edge.toml, data/    recordings, clips, the edge database, the uplink's enrolment and keys
    logs/<program>.log       every program's output

Start order: fake camera ∥ cloud (migrate, register the relay, serve) → sign-up of the demo tenant
through the API (the relay from the pool is assigned to it) → relay (tls mode) → bootstrap token
through the API as the tenant's admin → ``guardian-edge enrol`` → edge recorder, detector, uplink.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from demo import pki
from demo.supervisor import Http, Line, Notify, Supervisor, SupervisorError, check_ports

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SYSTEM_PYTHON = "/usr/bin/python3"
FAKE_CAMERA = ROOT / "agents" / "edge" / "video" / "fake_camera.py"
CACHE = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian"))
DEFAULT_STATE = Path(os.environ.get("GUARDIAN_DEMO_DIR", Path.home() / ".local" / "state" / "guardian-demo"))
DEMO_EMAIL = "demo@example.org"
CAMERA = "campus"
EX_TEMPFAIL = 75


@dataclass(frozen=True)
class Ports:
    cloud: int = 8000
    relay: int = 8443  # the relay's HTTPS endpoint: enrolment and media
    uplink: int = 50051  # the relay's gRPC uplink (mutual TLS on loopback in the demo)
    edge_media: int = 50052  # the edge's EdgeMedia gRPC server
    camera: int = 8554
    detector_metrics: int = 9465  # the uplink reads the detector's inference latency there

    @classmethod
    def from_base(cls, base: int) -> Ports:
        return cls(*(base + i for i in range(6)))

    @classmethod
    def free(cls) -> Ports:
        """Currently free ports (tests run beside other stacks)."""
        socks, ports = [], []
        for _ in range(6):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
            ports.append(sock.getsockname()[1])
        for sock in socks:
            sock.close()
        return cls(*ports)

    def named(self) -> dict[str, int]:
        return {"cloud HTTP": self.cloud, "relay HTTPS": self.relay, "relay uplink gRPC": self.uplink,
                "edge media gRPC": self.edge_media, "camera RTSP": self.camera,
                "detector metrics": self.detector_metrics}


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


class DemoStack:
    def __init__(self, options: Options) -> None:
        self.o = options
        self.state = options.state_dir
        self.ports = options.ports
        self.sup: Supervisor | None = None
        self.info: Provisioned | None = None
        self.timings: dict[str, float] = {}

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
        self.sup = Supervisor(self.path("logs"), echo=self.o.echo)
        sup = self.sup
        try:
            camera = sup.start("camera", [SYSTEM_PYTHON, str(FAKE_CAMERA), "--file", str(self.o.footage),
                                          "--port", str(self.ports.camera), "--mount", "/cam"],
                               Line(r'"event": "ready"'))
            self._write_cloud_config()
            cloud_env = {"CREDENTIALS_DIRECTORY": str(self.path("credentials", "cloud"))}
            cloud_cli = [str(BIN / "guardian-cloud")]
            cloud_cfg = ["-c", str(self.path("cloud", "cloud.toml"))]
            sup.run("cloud-migrate", [*cloud_cli, "migrate", *cloud_cfg], env=cloud_env)
            relay_id = previous.relay_id if previous else self._register_relay(cloud_cli, cloud_cfg, cloud_env)
            cloud = sup.start("cloud", [*cloud_cli, "serve", *cloud_cfg], Http(f"{self.cloud_url}/healthz"),
                              env=cloud_env)
            self.timings["cloud"] = sup.wait_ready(cloud, self.o.ready_timeout_s)

            if previous is None:
                email, password = DEMO_EMAIL, _password()
                tenant_id = self._signup(email, password, relay_id)
            else:
                email, password, tenant_id = previous.email, previous.password, previous.tenant_id
            self._write_relay_config(relay_id, tenant_id)
            relay_cfg = str(self.path("relay", "relay.toml"))
            relay = sup.start("relay", [str(BIN / "guardian-relay"), "run", "-c", relay_cfg], Notify())
            self.timings["relay"] = sup.wait_ready(relay, self.o.ready_timeout_s)

            self._write_edge_config()
            device_id = previous.device_id if previous else self._enrol(email, password)
            self.timings["camera"] = sup.wait_ready(camera, self.o.ready_timeout_s)
            edge_cmd = [str(BIN / "guardian-edge")]
            edge_cfg = ["-c", str(self.path("edge", "edge.toml"))]
            started = [sup.start(name, [*edge_cmd, command, *edge_cfg], Notify(),
                                 env={"GUARDIAN_EDGE_METRICS__PORT": str(port)})
                       for name, command, port in (("recorder", "run", 0),
                                                   ("detector", "run-detector", self.ports.detector_metrics),
                                                   ("uplink", "run-uplink", 0))]
            for child in started:
                self.timings[child.name] = sup.wait_ready(child, self.o.ready_timeout_s)
        except BaseException:
            sup.stop_all(timeout=10)
            raise
        self.info = Provisioned(email, password, tenant_id, relay_id, device_id, asdict(self.ports),
                                _public_key(self.signing_key_text))
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
        from guardian import tokens

        for sub in ("credentials/cloud", "pki", "cloud", "relay", "edge/data", "logs"):
            self.path(*sub.split("/")).mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o700)
        _secret_file(self.path("credentials", "cloud", "secret_key"), secrets.token_urlsafe(48))
        _secret_file(self.path("credentials", "cloud", "signing_key"),
                     tokens.private_key_to_text(tokens.generate_private_key()))
        d = self.path("pki")
        pki.make_ca(d / "demo-ca.pem", d / "demo-ca.key", "Guardian demo CA")
        pki.make_server_cert(d / "relay.pem", d / "relay.key", d / "demo-ca.pem", d / "demo-ca.key", "relay.demo")
        pki.make_ca(d / "edge-client-ca.pem", d / "edge-client-ca.key", "Guardian demo edge client CA")

    def _write_cloud_config(self) -> None:
        ui = ROOT / "ui" / "dist"
        _toml(self.path("cloud", "cloud.toml"), f"""
log_level = "{self.o.log_level}"

[database]
url = "sqlite:///{self.path('cloud', 'cloud.db')}"

[http]
host = "127.0.0.1"
port = {self.ports.cloud}
ui_dir = "{ui}"

[auth]
# The demo serves plain HTTP on loopback; production runs behind TLS with Secure cookies.
cookie_secure = false

[tokens]
clip_token_seconds = {self.o.clip_token_seconds}
""")

    def _register_relay(self, cli: list[str], cfg: list[str], env: dict[str, str]) -> str:
        assert self.sup is not None
        out = self.sup.run("cloud-relays", [*cli, "relays", "register", "demo-relay", "--endpoint", self.relay_url,
                                            "--generate-key", *cfg], env=env)
        answer = json.loads(out)
        _secret_file(self.path("relay", "relay-signing.key"), answer["private_key"])
        return str(answer["id"])

    def _signup(self, email: str, password: str, relay_id: str) -> str:
        with httpx.Client(base_url=self.cloud_url, timeout=30) as client:
            body = {"email": email, "password": password, "tenant_name": "Demo home"}
            r = client.post("/api/v1/auth/signup", json=body)
            if r.status_code != 201:
                raise SupervisorError(f"demo sign-up failed: {r.status_code} {r.text[:300]}")
            client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            r = client.get("/api/v1/tenant")
            tenant = r.json() if r.status_code == 200 else {}
        if tenant.get("relay_id") != relay_id:
            raise SupervisorError(f"the demo tenant did not get the demo relay: {r.status_code} {r.text[:300]}")
        return str(tenant["id"])

    def login(self, client: httpx.Client, email: str, password: str) -> None:
        """Sign ``client`` in (bearer token: a cookie jar does not keep cookies for a bare IP reliably)."""
        r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        if r.status_code != 200:
            raise SupervisorError(f"demo login failed: {r.status_code} {r.text[:300]}")
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def _write_relay_config(self, relay_id: str, tenant_id: str) -> None:
        d, r = self.path("pki"), self.path("relay")
        public = _public_key(self.signing_key_text)
        _toml(r / "relay.toml", f"""
log_level = "{self.o.log_level}"

[metrics]
port = 0

[enrolment]
address = "127.0.0.1"
port = {self.ports.relay}
tls_cert_file = "{d / 'relay.pem'}"
tls_key_file = "{d / 'relay.key'}"
public_endpoint = "127.0.0.1:{self.ports.relay}"
token_public_keys = ["{public}"]
client_ca_file = "{d / 'edge-client-ca.pem'}"
client_ca_key_file = "{d / 'edge-client-ca.key'}"

[tunnel]
# The demo's explicit mode: gRPC over mutual TLS on loopback instead of a WireGuard tunnel; each device
# gets a loopback address of this network for its media server.
mode = "tls"
network = "127.77.0.0/24"

[uplink]
port = {self.ports.uplink}
tls_listen_address = "127.0.0.1"
edge_media_port = {self.ports.edge_media}

[media]
cors_origins = ["{self.cloud_url}"]
public_url = "{self.relay_url}"

[cache]
database = "{r / 'relay.db'}"

[health]
report_interval_s = 5

[cloud]
url = "{self.cloud_url}"
relay_id = "{relay_id}"
tenant_id = "{tenant_id}"
signing_key_file = "{r / 'relay-signing.key'}"
interval_s = 0.2
""")

    def _write_edge_config(self) -> None:
        e = self.path("edge")
        _toml(e / "edge.toml", f"""
log_level = "{self.o.log_level}"

[storage]
data_dir = "{e / 'data'}"

[[cameras]]
name = "{CAMERA}"
record_url = "rtsp://127.0.0.1:{self.ports.camera}/cam"

[recording]
segment_seconds = 4
fsync = false

[retention]
# A developer machine: keep the demo within 2 GiB instead of reserving free space.
min_free_bytes = 0
min_free_percent = 0
max_bytes = {2 * 1024**3}

[models]
store_dir = "{CACHE / 'models'}"

[detection]
fps = 5
performance_hint = "LATENCY"

[detection.events]
pre_roll_s = 3
post_roll_s = 3

[uplink]
mode = "tls"
relay_ca_file = "{self.demo_ca}"
detector_metrics_url = "http://127.0.0.1:{self.ports.detector_metrics}/metrics"
""")

    def _enrol(self, email: str, password: str) -> str:
        assert self.sup is not None
        with httpx.Client(base_url=self.cloud_url, timeout=30) as client:
            self.login(client, email, password)
            r = client.post("/api/v1/bootstrap-tokens", json={"label": "Demo edge (this machine)"})
            if r.status_code != 201:
                raise SupervisorError(f"bootstrap token refused: {r.status_code} {r.text[:300]}")
            token = r.json()["token"]
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
        from agents.edge.uplink.state import enrolment_path
        from guardian.runtime.config import load_settings

        return enrolment_path(load_settings(EdgeSettings, self.path("edge", "edge.toml")))


def _password() -> str:
    words = ["amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "harbor", "indigo", "juniper",
             "kestrel", "lagoon", "meadow", "nectar", "orchid", "pebble", "quartz", "raven", "spruce", "tundra"]
    return "-".join(secrets.choice(words) for _ in range(3)) + f"-{secrets.randbelow(100):02d}"


def _public_key(signing_key_text: str) -> str:
    from guardian import tokens

    return tokens.public_key_to_text(tokens.private_key_from_text(signing_key_text))


def _secret_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _toml(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.lstrip())


def summary(stack: DemoStack, info: Provisioned) -> str:
    t = stack.timings
    return "\n".join([
        "",
        "Private AI Guardian demo is running:",
        f"  open      {stack.cloud_url}/",
        f"  sign in   {info.email}  /  {info.password}",
        f"  camera    rtsp://127.0.0.1:{stack.ports.camera}/cam (real footage, looping)",
        f"  relay     {stack.relay_url} (mutual TLS to the edge; certificate from the demo CA)",
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
