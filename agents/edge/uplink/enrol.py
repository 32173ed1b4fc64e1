"""Edge side of enrolment: make the WireGuard key here, present the bootstrap token, keep the answer.

``guardian-edge enrol --relay HOST:PORT --token-file FILE`` (first boot, or re-enrolment with a new
token: the device keeps its id when it is already enrolled) and ``guardian-edge enrol --rotate-key``
(a new key, announced to the relay from inside the tunnel). The private key is created on the device
with mode 0600 and never sent anywhere; the token is read from a file and never logged.

tls mode (``uplink.mode = "tls"``, the local demo only): instead of a WireGuard key the device makes an
EC P-256 key (``<state_dir>/tls.key``, 0600, never sent) and sends a certificate signing request with
``public_key`` = base64(SHA-256(its SubjectPublicKeyInfo)); the relay answers with a certificate
(``tls.pem``, CN = device id) and the CA that issued it (``client-ca.pem``), used for the mutual-TLS
uplink and the EdgeMedia server. Key rotation is a re-enrolment with ``--new-key`` in that mode.

The appliance's hostname follows from the device id (:func:`device_hostname`, printed by the command):
every edge image ships as ``guardian-edge``, and first boot (firstboot/guardian-firstboot) makes it the
device's own name once enrolled.

Exit codes: 0 enrolled; 78 (EX_CONFIG) the relay refused (bad, used, expired or foreign token: a new
token is needed); 75 (EX_TEMPFAIL) the relay could not be reached (retry later).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx

from agents.common.wireguard import ensure_keypair, promote_rotated_key, rotate_keypair
from agents.edge.config import EdgeSettings
from agents.edge.enrolment import (
    Enrolment,
    client_ca_path,
    enrolment_path,
    key_path,
    tls_cert_path,
    tls_key_path,
)
from guardian.runtime.errors import EX_CONFIG, GuardianError
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.enrol")

EX_TEMPFAIL = getattr(os, "EX_TEMPFAIL", 75)

_NOT_IN_HOSTNAME = re.compile(r"[^a-z0-9-]+")


def device_hostname(device_id: str) -> str:
    """``guardian-<device id>`` as a valid hostname: lower case, ``[a-z0-9-]`` only, one label of at
    most 63 characters (what the LAN's DHCP server and the UI's device list both show)."""
    label = _NOT_IN_HOSTNAME.sub("-", device_id.lower()).strip("-")
    return f"guardian-{label}"[:63].rstrip("-") if label else "guardian-edge"


class EnrolmentError(GuardianError):
    """The relay refused (``reason`` from its answer) or could not be reached."""

    def __init__(self, message: str, reason: str = "", exit_code: int = EX_CONFIG) -> None:
        self.reason = reason
        self.exit_code = exit_code
        super().__init__(message)


def relay_base_url(endpoint: str) -> str:
    return endpoint.rstrip("/") if endpoint.startswith(("https://", "http://")) else f"https://{endpoint}"


def _client(settings: EdgeSettings) -> httpx.Client:
    verify: object = str(settings.uplink.relay_ca_file) if settings.uplink.relay_ca_file else True
    return httpx.Client(verify=verify, timeout=20.0)  # type: ignore[arg-type]


def _post(settings: EdgeSettings, url: str, body: dict[str, object]) -> dict[str, object]:
    try:
        with _client(settings) as client:
            response = client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise EnrolmentError(f"relay unreachable at {url}: {exc}", "unreachable", EX_TEMPFAIL) from None
    if response.status_code != 200:
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        reason = str(answer.get("error", f"http_{response.status_code}"))
        detail = str(answer.get("detail", response.text[:200]))
        code = EX_TEMPFAIL if response.status_code >= 500 else EX_CONFIG
        raise EnrolmentError(f"relay refused enrolment ({reason}): {detail}", reason, code)
    return response.json()


def _record(answer: dict[str, Any], relay_url: str) -> Enrolment:
    return Enrolment(
        device_id=str(answer["device_id"]),
        tenant_id=str(answer["tenant_id"]),
        relay_url=relay_url,
        tunnel_address=str(answer["tunnel_address"]),
        tunnel_prefix=int(answer["tunnel_prefix"]),
        relay_public_key=str(answer["relay_public_key"]),
        relay_endpoint=str(answer["relay_endpoint"]),
        relay_tunnel_address=str(answer["relay_tunnel_address"]),
        uplink_port=int(answer["uplink_port"]),
        media_port=int(answer["media_port"]),
        keepalive_s=int(answer["keepalive_s"]),
    )


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _tls_request(settings: EdgeSettings, new_key: bool) -> tuple[str, str, bytes | None]:
    """(public_key fingerprint, CSR PEM, new key PEM to keep once enrolled) for tls mode."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    keyfile = tls_key_path(settings)
    fresh: bytes | None = None
    if keyfile.exists() and not new_key:
        key = serialization.load_pem_private_key(keyfile.read_bytes(), None)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        fresh = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    fingerprint = base64.b64encode(hashlib.sha256(der).digest()).decode()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "guardian-edge")]))
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return fingerprint, csr.public_bytes(serialization.Encoding.PEM).decode(), fresh


def enrol(settings: EdgeSettings, relay: str, token: str, new_key: bool = False) -> Enrolment:
    """Enrol (or re-enrol, keeping the device id) with ``relay`` using a bootstrap ``token``."""
    path = enrolment_path(settings)
    previous = Enrolment.load(path) if path.exists() else None
    tls = settings.uplink.mode == "tls"
    keyfile = key_path(settings)
    fresh_tls_key: bytes | None = None
    csr = ""
    if tls:
        public_key, csr, fresh_tls_key = _tls_request(settings, new_key)
    else:
        public_key = rotate_keypair(keyfile) if new_key and keyfile.exists() else ensure_keypair(keyfile)
    base = relay_base_url(relay)
    body: dict[str, object] = {"token": token.strip(), "public_key": public_key}
    if tls:
        body["csr"] = csr
    if previous is not None:
        body["device_id"] = previous.device_id
    answer = _post(settings, f"{base}/api/v1/enrol", body)
    if tls:
        if "client_certificate" not in answer:
            raise EnrolmentError("relay did not issue a certificate: is it in tunnel.mode = 'tls'?", "no_certificate")
        if fresh_tls_key is not None:
            _write_private(tls_key_path(settings), fresh_tls_key)
        _write_private(tls_cert_path(settings), str(answer["client_certificate"]).encode())
        _write_private(client_ca_path(settings), str(answer["client_ca"]).encode())
    elif new_key and keyfile.with_suffix(keyfile.suffix + ".new").exists():
        promote_rotated_key(keyfile)
    record = _record(answer, base)
    record.save(path)
    log.info("enrolled", device=record.device_id, address=record.tunnel_address, reenrolled=previous is not None)
    return record


def rotate_key(settings: EdgeSettings) -> Enrolment:
    """Replace the WireGuard key: announce the new public key through the tunnel, then switch to it."""
    path = enrolment_path(settings)
    if not path.exists():
        raise EnrolmentError("not enrolled yet: run `guardian-edge enrol` first", "not_enrolled")
    current = Enrolment.load(path)
    keyfile = key_path(settings)
    new_public = rotate_keypair(keyfile)
    url = f"https://{current.relay_tunnel_address}:{_port_of(current.relay_url)}/api/v1/rotate"
    _post(settings, url, {"public_key": new_public})
    promote_rotated_key(keyfile)
    if settings.uplink.mode == "wireguard":
        # Switch the running interface to the new key right away (the relay does the same on its side).
        subprocess.run(
            ["wg", "set", settings.uplink.interface, "private-key", str(keyfile)], check=False, capture_output=True
        )
    log.info("key_rotated", device=current.device_id)
    return current


def _port_of(url: str) -> int:
    return httpx.URL(url).port or 443
