"""tls mode only (the local demo): the relay's small CA for edge certificates.

At enrolment the edge sends a certificate signing request for a key it made itself (the private key
never leaves the device) together with ``public_key`` = base64(SHA-256(SubjectPublicKeyInfo)), which
the registry stores where wireguard mode stores the WireGuard key. The relay checks that the two match
and issues a certificate from ``enrolment.client_ca_file``:

- CN = the device id (how the gRPC Uplink server identifies the device),
- SAN = the device id and its allocated loopback address (the relay dials the edge's EdgeMedia server
  there and checks the name),
- client *and* server authentication: the same certificate authenticates the edge's uplink calls and
  its EdgeMedia server.

The relay gives itself a short-lived client certificate from the same CA at start (kept in memory,
never written) with CN = :data:`RELAY_CLIENT_NAME`, which the edges' EdgeMedia servers require.
Device ids always start with ``dev-``, so no device certificate can carry that name.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agents.relay.errors import EnrolmentRefused

RELAY_CLIENT_NAME = "guardian-relay"
DEVICE_CERT_DAYS = 30
RELAY_CERT_DAYS = 7


def key_fingerprint(public_key: object) -> str:
    """base64(SHA-256(DER SubjectPublicKeyInfo)): 44 characters, the shape of a WireGuard key."""
    der = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@dataclass(frozen=True)
class ClientIdentity:
    """PEM bytes for gRPC: the relay's in-memory client certificate and key, and the CA to trust."""

    certificate: bytes
    private_key: bytes
    ca: bytes


class DeviceCA:
    def __init__(self, ca_file: Path, ca_key_file: Path) -> None:
        self.ca_pem = ca_file.read_bytes()
        self.ca = x509.load_pem_x509_certificate(self.ca_pem)
        key = serialization.load_pem_private_key(ca_key_file.read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | _rsa_key_type()):
            raise TypeError("client CA key must be EC or RSA")
        self._key = key

    def check_request(self, csr_pem: str, public_key: str) -> x509.CertificateSigningRequest:
        """Parse and check a CSR (signature, and its key matching ``public_key``) before the token is spent."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            raise EnrolmentRefused("bad_csr", "csr is not a PEM certificate signing request", 422) from None
        if not csr.is_signature_valid:
            raise EnrolmentRefused("bad_csr", "csr signature does not verify", 422)
        if key_fingerprint(csr.public_key()) != public_key:
            raise EnrolmentRefused("bad_csr", "public_key is not the SHA-256 of the csr's key", 422)
        return csr

    def issue(self, csr: x509.CertificateSigningRequest, device_id: str, address: str) -> bytes:
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
            .issuer_name(self.ca.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=DEVICE_CERT_DAYS))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName(device_id), x509.IPAddress(ipaddress.ip_address(address))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())  # type: ignore[arg-type]
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    def relay_client_identity(self) -> ClientIdentity:
        """A fresh client certificate for the relay's EdgeMedia calls (memory only)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, RELAY_CLIENT_NAME)]))
            .issuer_name(self.ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=RELAY_CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())  # type: ignore[arg-type]
        )
        return ClientIdentity(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key), self.ca_pem)


def _rsa_key_type() -> type:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.RSAPrivateKey
