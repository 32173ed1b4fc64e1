"""The device's enrolment state: its WireGuard key and the enrolment record (the uplink writes them, the
archive reads where the relay is)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from agents.edge.config import EdgeSettings


def state_dir(settings: EdgeSettings) -> Path:
    return settings.uplink.state_dir or settings.storage.data_dir / "uplink"


def key_path(settings: EdgeSettings) -> Path:
    return state_dir(settings) / "wireguard.key"


def enrolment_path(settings: EdgeSettings) -> Path:
    return state_dir(settings) / "enrolment.json"


# tls mode (the demo): the certificate the relay issued at enrolment; the uplink and the archive use it.
def tls_key_path(settings: EdgeSettings) -> Path:
    return state_dir(settings) / "tls.key"


def tls_cert_path(settings: EdgeSettings) -> Path:
    return state_dir(settings) / "tls.pem"


def client_ca_path(settings: EdgeSettings) -> Path:
    return state_dir(settings) / "client-ca.pem"


@dataclass(frozen=True)
class Enrolment:
    """What the relay told this device at enrolment (nothing secret in it)."""

    device_id: str
    tenant_id: str
    relay_url: str
    tunnel_address: str
    tunnel_prefix: int
    relay_public_key: str
    relay_endpoint: str
    relay_tunnel_address: str
    uplink_port: int
    media_port: int
    keepalive_s: int

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Enrolment:
        data = json.loads(path.read_text())
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})
