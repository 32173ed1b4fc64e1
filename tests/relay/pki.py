"""Test certificates: a CA and server certificates in a directory, made by the demo's PKI helpers.

One implementation serves the demo and the tests, so both get the same extensions (key identifiers
included, which Python 3.13's strict verification wants).
"""

from __future__ import annotations

from pathlib import Path

from demo import pki


def make_ca(directory: Path, name: str = "Guardian test CA") -> tuple[Path, Path]:
    cert_path, key_path = directory / "ca.pem", directory / "ca.key"
    pki.make_ca(cert_path, key_path, name)
    return cert_path, key_path


def make_server_cert(
    directory: Path, ca_cert: Path, ca_key: Path, stem: str, ips: list[str], dns: list[str] = ()  # type: ignore[assignment]
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    pki.make_server_cert(cert_path, key_path, ca_cert, ca_key, stem, ips=tuple(ips), dns=tuple(dns))
    return cert_path, key_path
