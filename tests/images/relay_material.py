"""What the full boot tests give a booted relay and edge image: a test CA and the relay's certificate, the
relay's operator config (relay.toml as a tmpfiles.extra credential), its signing key and one bootstrap token.

Made with the project's own code (tests/relay/pki.py, guardian.contracts.auth). Used by scripts/boot-test.sh
(QEMU: ``python -m tests.images.relay_material WORK [LAB]``) and tests/images/nspawnlab.py (nspawn), so both
boot the images with the same material. Writes:

- ``WORK/cred-relay/``: the relay's credentials (file name = credential name);
- ``WORK/relay-ca.pem``: the CA the edge trusts for enrolment (its enrol.conf's GUARDIAN_RELAY_CA);
- ``WORK/token``: a bootstrap token (the lab cloud's, if it minted one, or one minted by a stand-in
  "cloud" key pair);
- ``LAB/relay.pem``: the relay's certificate, for the browser (with a lab only).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from guardian.contracts import auth
from tests.relay.pki import make_ca, make_server_cert

CREDENTIALS = "/run/credentials/guardian-relay.service"


@dataclass(frozen=True)
class RelayAddresses:
    """Where the relay sits and how it reaches the cloud, as seen from inside the booted relay."""

    lan: str = "10.78.0.1"  # edges enrol at LAN:8443 and reach WireGuard at LAN:51820
    cloud_url: str = "http://10.0.2.100"  # QEMU's guestfwd to the host's cloud
    media_url: str | None = None  # the relay's HTTPS for browsers; default https://127.0.0.1:<media_port>
    extra_names: tuple[str, ...] = ("127.0.0.1",)  # the certificate's other addresses (QEMU's host forward)
    updates_origin: str | None = None  # where releases are published: the relay's update mirror serves them


def write(work: Path, lab: Path | None, where: RelayAddresses = RelayAddresses()) -> None:
    pki = work / "pki"
    pki.mkdir(parents=True)
    relay_creds = work / "cred-relay"
    relay_creds.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = make_ca(pki, "Guardian boot-test CA")
    cert, key = make_server_cert(pki, ca_cert, ca_key, "relay", [where.lan, *where.extra_names])
    (relay_creds / "guardian.relay.tls.crt").write_bytes(cert.read_bytes())
    (relay_creds / "guardian.relay.tls.key").write_bytes(key.read_bytes())
    if lab is None:
        cloud_key, signing_key = auth.generate_private_key(), auth.generate_private_key()
        (relay_creds / "guardian.relay.signing.key").write_text(auth.private_key_to_text(signing_key))
        token_key = auth.public_key_to_text(cloud_key)
        cloud = '''[cloud]
enabled = false
relay_id = "relay-boot-test"
tenant_id = "tenant-boot-test"
'''
    else:
        # The real cloud on the host: its token key, the relay as registered there, its media URL for the browser.
        info = json.loads((lab / "lab.json").read_text())
        (relay_creds / "guardian.relay.signing.key").write_text((lab / "relay-signing.key").read_text())
        (lab / "relay.pem").write_bytes(cert.read_bytes())
        token_key = info["cloud_public_key"]
        cloud_origin = info.get("cloud_url", f"http://127.0.0.1:{info['cloud_port']}")
        cloud = f'''[media]
public_url = "{where.media_url or f"https://127.0.0.1:{info['media_port']}"}"
cors_origins = ["{cloud_origin}"]
[cloud]
url = "{where.cloud_url}"
relay_id = "{info["relay_id"]}"
tenant_id = "{info["tenant_id"]}"
interval_s = 0.5
config_poll_s = 1
'''
    relay_toml = f'''# boot-test operator config (tests/images/relay_material.py)
log_level = "INFO"
[enrolment]
address = "0.0.0.0"
port = 8443
tls_cert_file = "{CREDENTIALS}/guardian.relay.tls.crt"
tls_key_file = "{CREDENTIALS}/guardian.relay.tls.key"
public_endpoint = "{where.lan}:51820"
token_public_keys = ["{token_key}"]
[tunnel]
mode = "wireguard"
listen_port = 51820
network = "10.77.0.0/24"
[health]
report_interval_s = 10
{cloud}signing_key_file = "{CREDENTIALS}/guardian.relay.signing.key"
'''
    if where.updates_origin:
        relay_toml += f'''[updates]
enabled = true
origin = "{where.updates_origin}"
'''
    (work / "relay.toml").write_text(relay_toml)
    # tmpfiles.extra: systemd-tmpfiles-setup writes /etc/guardian/relay.toml early in boot (C escapes).
    escaped = relay_toml.replace("\\", "\\\\").replace("\n", "\\n")
    (relay_creds / "tmpfiles.extra").write_text(f"f /etc/guardian/relay.toml 0644 root root - {escaped}\n")
    # The edge trusts the test CA for enrolment the way a tenant's download does: the personalised
    # enrol.conf carries it (GUARDIAN_RELAY_CA, personalise-image.sh --relay-ca).
    (work / "relay-ca.pem").write_bytes(ca_cert.read_bytes())
    if lab is None:
        (work / "token").write_text(auth.mint_bootstrap_token(
            cloud_key, tenant_id="tenant-boot-test", relay_id="relay-boot-test", ttl=3600, label="boot-test edge"))
    elif (lab / "token").exists():  # none when the owner downloads an image that carries its own
        (work / "token").write_text((lab / "token").read_text().strip())


if __name__ == "__main__":
    write(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else None)
