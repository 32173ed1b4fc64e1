"""The host's side of ``scripts/boot-test.sh --cloud DIR``: a real cloud (``guardian-cloud serve``, SQLite)
and the RTSP test camera on loopback, a relay registered in the cloud the way an operator does it
(``guardian-cloud relays register``), and a tenant that signs up and asks for a bootstrap token through
the cloud's API as the UI does. ``DIR/lab.json``, ``DIR/token`` and ``DIR/relay-signing.key`` are what
boot-test.sh gives the relay VM and the personalised edge image."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from demo import configs
from guardian.contracts import auth
from tests.conftest import FakeCamera, free_port

ROOT = Path(__file__).resolve().parents[2]
CLOUD = ROOT / ".venv" / "bin" / "guardian-cloud"
EMAIL = "owner@boot-test.example.org"
PASSWORD = "boot test owner passphrase 42"
CAMERA_USER = "viewer"
CAMERA_PASSWORD = "Quiet-Heron-Lantern-7"  # sealed in the browser; never in the cloud or the relay in the clear


@dataclass
class Lab:
    dir: Path
    cloud_url: str
    camera: FakeCamera
    media_port: int
    relay_id: str
    tenant_id: str
    _token: str = ""

    def get(self, path: str) -> Any:
        """``GET path`` as the tenant's owner (signed in again once the access token has expired: the
        boot takes longer than its lifetime)."""
        with httpx.Client(base_url=self.cloud_url, timeout=30) as client:
            if self._token:
                r = client.get(path, headers={"Authorization": f"Bearer {self._token}"})
                if r.status_code != 401:
                    r.raise_for_status()
                    return r.json()
            login = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
            login.raise_for_status()
            self._token = login.json()["access_token"]
            r = client.get(path, headers={"Authorization": f"Bearer {self._token}"})
            r.raise_for_status()
            return r.json()


    def record_tenant(self) -> None:
        """Once the owner has signed up: the tenant's id, in lab.json for the relay's config."""
        tenant = self.get("/api/v1/tenant")
        self.tenant_id = tenant["id"]
        info = json.loads((self.dir / "lab.json").read_text())
        (self.dir / "lab.json").write_text(json.dumps({**info, "tenant_id": self.tenant_id}))


def _secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _operator_key(directory: Path) -> Path:
    """The operator's SSH key pair (issue #19): the cloud's download carries the public half, boot-test.sh gives
    the relay VM the private half to log in on the edge through the tunnel. Returns the public key file."""
    key = directory / "operator-key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "operator", "-f", str(key)], check=True)
    return key.with_suffix(".pub")


@contextmanager
def cloud_lab(directory: Path, footage: Path, *, host: str = "127.0.0.1", relay_lan: str = "10.78.0.1",
              relay_media_url: str | None = None, signup: bool = True, edge_image: Path | None = None,
              relay_ca_file: Path | None = None) -> Iterator[Lab]:
    """Cloud and camera up, relay registered, tenant signed up, bootstrap token minted; all stopped after.

    ``host``: where the cloud and the camera listen (loopback for QEMU's forwards; the host's bridge address
    for images booted in nspawn). ``relay_lan``: the relay's LAN address, where edges enrol.
    ``relay_media_url``: the relay's HTTPS address for browsers (default: a host forward to be made by the
    caller, https://127.0.0.1:<media_port>). ``signup=False``: no tenant yet (the owner signs up in the browser
    and adds the device there; then :meth:`Lab.record_tenant`). ``edge_image``/``relay_ca_file``: the cloud's
    image download (``[edge_image]``; the CA file is read per download, so it may be written later; the operator's SSH
    key, :func:`_operator_key`)."""
    directory.mkdir(parents=True, exist_ok=True)
    creds = directory / "credentials"
    creds.mkdir(exist_ok=True)
    cloud_key = auth.generate_private_key()
    _secret(creds / "secret_key", os.urandom(24).hex())
    _secret(creds / "signing_key", auth.private_key_to_text(cloud_key))
    cloud_port, media_port = free_port(), free_port()
    cloud_url = f"http://{host}:{cloud_port}"
    config = configs.write_cloud(directory / "cloud.toml", {
        "database": {"url": f"sqlite:///{directory / 'cloud.db'}"},
        "http": {"host": host, "port": cloud_port, "ui_dir": ROOT / "ui" / "dist"},
        "auth": {"cookie_secure": False},  # plain HTTP on loopback here; production runs behind TLS
        **({"edge_image": {"path": edge_image, **({"relay_ca_file": relay_ca_file} if relay_ca_file else {}),
                           "operator_ssh_keys_file": _operator_key(directory)}}
           if edge_image else {}),
    }, credentials=creds)
    env = {**os.environ, "CREDENTIALS_DIRECTORY": str(creds)}
    cli = [str(CLOUD)]
    subprocess.run([*cli, "migrate", "-c", str(config)], env=env, check=True, capture_output=True)
    # The relay's key is made here and only its public half registered (as demo/stack.py does). Its
    # browser-facing URL is the host forward of the relay VM's HTTPS port; edges enrol at its LAN address.
    relay_key = auth.generate_private_key()
    _secret(directory / "relay-signing.key", auth.private_key_to_text(relay_key))
    out = subprocess.run([*cli, "relays", "register", "boot-test-relay", "--endpoint",
                          relay_media_url or f"https://127.0.0.1:{media_port}", "--enrolment-endpoint", f"{relay_lan}:8443", f"--public-key={auth.public_key_to_text(relay_key)}",
                          "-c", str(config)], env=env, check=True, capture_output=True, text=True).stdout
    relay_id = json.loads(out)["id"]
    log = (directory / "cloud.log").open("w")
    server = subprocess.Popen([*cli, "serve", "-c", str(config)], env=env, stdout=log, stderr=subprocess.STDOUT)
    camera = FakeCamera(footage, user=CAMERA_USER, password=CAMERA_PASSWORD, address=host)
    try:
        camera.start()
        _wait_healthy(cloud_url, server)
        lab = Lab(directory, cloud_url, camera, media_port, relay_id, "")
        (directory / "lab.json").write_text(json.dumps({
            "cloud_port": cloud_port, "cloud_url": cloud_url, "media_port": media_port, "camera_port": camera.port,
            "relay_id": relay_id, "tenant_id": "", "cloud_public_key": auth.public_key_to_text(cloud_key)}))
        if signup:
            with httpx.Client(base_url=cloud_url, timeout=30) as client:
                r = client.post("/api/v1/auth/signup", json={"email": EMAIL, "password": PASSWORD, "tenant_name": "Boot test home"})
                assert r.status_code == 201, r.text
                client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
                # The first device's token takes the (only) relay from the pool for this tenant.
                r = client.post("/api/v1/bootstrap-tokens", json={"label": "Boot test edge"})
                assert r.status_code == 201, r.text
                _secret(directory / "token", r.json()["token"])
            lab.record_tenant()
            assert lab.get("/api/v1/tenant")["relay_id"] == relay_id
        yield lab
    finally:
        camera.stop()
        server.terminate()
        server.wait(15)
        log.close()


def _wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    """Until ``/healthz`` answers (the server has started) or the process has died."""
    while server.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"guardian-cloud serve exited with {server.returncode}")
