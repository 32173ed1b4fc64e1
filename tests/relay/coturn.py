"""A real coturn process configured from the relay's template (provisioning/templates/turnserver.conf.j2),
for the TURN credential tests and the live-view tests. By default it listens on loopback and relays
there (the template's peer rule then admits only 127.0.0.1, its own allocations); in a network
namespace it listens on the relay's public and tunnel addresses and relays on the tunnel one, as on
the relay VM."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import jinja2

from agents.relay.turn_credentials import TurnCredentials, mint_turn_credentials, peer_range
from tests.netns import call_in_netns

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "provisioning" / "templates" / "turnserver.conf.j2"
REALM = "guardian.test"


def _free_port() -> int:
    # A port free for both UDP and TCP (coturn listens on both).
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


class Coturn:
    """``with Coturn(tmp_path) as turn:`` — coturn at ``turn.port`` on 127.0.0.1; :meth:`mint` gives
    credentials under its shared secret."""

    def __init__(self, workdir: Path, listen_ips: tuple[str, ...] = ("127.0.0.1",), relay_ip: str = "127.0.0.1",
                 peers: str = "127.0.0.1/32", netns: str | None = None) -> None:
        if shutil.which("turnserver") is None:
            raise RuntimeError("turnserver missing: run scripts/setup.sh (scripts/setup.d/52-live.sh)")
        self.workdir = workdir
        self.secret = secrets.token_urlsafe(32).encode()
        self.port = _free_port()
        self.log = workdir / "turnserver.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.listen_ips, self.relay_ip, self.peers, self.netns = listen_ips, relay_ip, peers, netns

    @property
    def url(self) -> str:
        return self.url_at(self.listen_ips[0])

    def url_at(self, address: str) -> str:
        return f"turn:{address}:{self.port}?transport=udp"

    def mint(self, tag: str = "test-session", ttl_s: int = 300, now: float | None = None) -> TurnCredentials:
        return mint_turn_credentials(self.secret, tag, ttl_s, now)

    def config(self) -> str:
        template = jinja2.Template(TEMPLATE.read_text(), undefined=jinja2.StrictUndefined)
        min_port = 40000 + (self.port % 20) * 1000  # a range of its own per instance
        return template.render(
            secret=self.secret.decode(), realm=REALM, listen_ips=list(self.listen_ips), port=self.port,
            relay_ip=self.relay_ip, min_port=min_port, max_port=min_port + 999, allowed_peers=peer_range(self.peers),
            allow_loopback_peers=self.netns is None, log_file=str(self.log),
        )

    def __enter__(self) -> Coturn:
        conf = self.workdir / "turnserver.conf"
        conf.write_text(self.config())
        conf.chmod(0o600)
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(
            [*prefix, "turnserver", "-c", str(conf), "--pidfile", str(self.workdir / "turnserver.pid"), "--no-stdout-log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        # Ready when its TCP listener accepts (UDP and TCP listeners open together).
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"turnserver exited ({self.proc.returncode}); see {self.log}")
            try:
                self._connect()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("turnserver did not start listening") from None
                time.sleep(0.05)

    def _connect(self) -> None:
        """A TCP connection to the last listen address, from inside the namespace when there is one."""
        def connect() -> None:
            socket.create_connection((self.listen_ips[-1], self.port), timeout=1).close()

        if self.netns:
            call_in_netns(self.netns, connect)
        else:
            connect()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
