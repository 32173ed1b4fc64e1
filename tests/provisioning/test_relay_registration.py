"""Relay registration with the cloud as part of the relay deploy: the cloud deploy and the relay deploy
against two real targets (nspawn machines, a direct link between them), in one inventory. The same two
deploys ship the relay's journal to the operator's host (issue #23, tasks/journal.py): the units run, and a
line logged on the relay is read back on the cloud host with ``journalctl -D``."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from guardian.contracts import auth
from tests.provisioning.conftest import results
from tests.provisioning.targets import Lab, Machine

pytestmark = pytest.mark.slow

# Run on the relay with its installed release: its own config (/etc/guardian/relay.toml), its signing key
# (the service's credential) and its CA file make one signed request, GET /api/v1/relay/whoami.
WHOAMI = r"""/opt/guardian/current/bin/python - <<'EOF'
import json, httpx
from pathlib import Path
from agents.relay.config import RelaySettings
from agents.relay.service import load_signing_key
from guardian.contracts import auth
from guardian.runtime.config import load_settings
s = load_settings(RelaySettings, Path("/etc/guardian/relay.toml")).cloud
path = "/api/v1/relay/whoami"
headers = auth.sign_relay_request(load_signing_key(s.signing_key_file), relay_id=s.relay_id, method="GET", path=path)
r = httpx.get(s.url.rstrip("/") + path, headers=headers, verify=str(s.ca_file), timeout=10)
print(json.dumps({"status": r.status_code, "body": r.json(), "relay_id": s.relay_id}))
EOF"""

# On the cloud host, as the service runs it (its user is the database role).
LIST = ("cd /tmp && systemd-run --quiet --wait --pipe --collect -p User=guardian-cloud "
        "-p LoadCredential=secret_key:/etc/guardian/cloud/secret_key "
        "-p LoadCredential=signing_key:/etc/guardian/cloud/signing_key "
        "guardian-cloud relays list -c /etc/guardian/cloud.toml")


def _changed(run: dict) -> list[str]:
    return [op["name"] for op in run["results"]["operations"] if op["success"] or op["error"]]


def test_relay_deploy_registers_with_the_cloud_once(lab: Lab, releases: Callable[..., Path], tmp_path: Path) -> None:
    relay_tar, cloud_tar = releases("relay"), releases("cloud")
    assert relay_tar.parent == cloud_tar.parent
    cloud, relay = lab.add("cloud"), lab.add("relay")
    cloud_address, relay_side = lab.connect("cloud", "relay")
    for m in (cloud, relay):
        lab.wait_ssh(m)
    # The proxy's certificate names the address the relay uses; the relay trusts it as its CA file.
    cert, key = tmp_path / "cloud.crt", tmp_path / "cloud.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=cloud.lab", "-addext", f"subjectAltName=IP:{cloud_address}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    lab.write_inventory({
        "cloud": [["cloud", {"cloud_public_name": "cloud.lab"}]],
        "relays": [["relay", {"tenant_id": "ten-lab", "relay_public_name": "relay.lab"}]],  # no relay_id
    })
    env = {"GUARDIAN_LAB": str(lab.workdir / "lab.json"), "GUARDIAN_RELEASES": str(relay_tar.parent),
           "GUARDIAN_APT_UPDATE": "0", "GUARDIAN_ADMIN_NETWORKS": f"{relay.peer_address}/32,{cloud.peer_address}/32",
           "GUARDIAN_TLS_MODE": "lab",  # certificates made here for the address (ACME: test_*_deploy.py)
           "GUARDIAN_CLOUD_TOKEN_KEYS": auth.public_key_to_text(auth.generate_private_key()),
           "GUARDIAN_CLOUD_URL": f"https://{cloud_address}", "GUARDIAN_CLOUD_CA_FILE": str(cert),
           "GUARDIAN_CLOUD_TLS_CERT": str(cert), "GUARDIAN_CLOUD_TLS_KEY": str(key),
           # #23: the relay uploads its journal to the cloud host, which admits only the relay's address.
           "GUARDIAN_RELAY_JOURNAL_URL": f"https://{cloud_address}:19532",
           "GUARDIAN_OPERATOR_JOURNAL_SOURCES": f"{relay_side}/32"}

    first_cloud = results(lab.pyinfra("--json", "-y", "inventories/lab.py", "deploy_cloud.py", env=env))
    assert first_cloud["results"]["totals"]["error"] == 0
    dry = lab.pyinfra("--json", "--dry", "inventories/lab.py", "deploy_relay.py", env=env)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "Relay relay.lab registered with the cloud on cloud" in dry.stdout
    assert "relay.lab" not in lab.ssh(cloud, LIST).stdout  # --dry registered nothing

    first = results(lab.pyinfra("--json", "-y", "inventories/lab.py", "deploy_relay.py", env=env))
    assert first["results"]["totals"]["error"] == 0
    assert any(n.endswith("| Relay relay.lab registered with the cloud on cloud") for n in _changed(first))

    # The cloud lists it, and the id in the relay's config is the cloud's.
    listed = lab.ssh(cloud, LIST).stdout
    rows = [line.split() for line in listed.splitlines() if " relay.lab " in f" {line} "]
    assert len(rows) == 1, listed
    relay_id = rows[0][0]
    assert rows[0][2] == "https://relay.lab:8443"
    assert f'relay_id = "{relay_id}"' in lab.ssh(relay, "cat /etc/guardian/relay.toml").stdout
    assert lab.ssh(relay, "systemctl is-active guardian-relay").stdout.strip() == "active"

    # A request signed with the relay's key, from its config, is accepted by the cloud (through nginx).
    whoami = json.loads(lab.ssh(relay, WHOAMI).stdout.strip().splitlines()[-1])
    assert whoami == {"status": 200, "body": {"relay_id": relay_id, "tenant_id": None}, "relay_id": relay_id}
    listed = lab.ssh(cloud, LIST).stdout
    assert "last_seen=never" not in next(line for line in listed.splitlines() if relay_id in line)

    _relay_journal_reaches_the_operator(lab, cloud, relay, relay_side)

    # Second runs of both: nothing changes, and the relay is still registered once.
    second_cloud = results(lab.pyinfra("--json", "-y", "inventories/lab.py", "deploy_cloud.py", env=env))
    assert _changed(second_cloud) == [], f"second cloud run changed: {_changed(second_cloud)}"
    second = results(lab.pyinfra("--json", "-y", "inventories/lab.py", "deploy_relay.py", env=env))
    assert _changed(second) == [], f"second relay run changed: {_changed(second)}"
    assert second["results"]["totals"]["error"] == 0 and second["results"]["totals"]["success"] == 0
    listed = lab.ssh(cloud, LIST).stdout
    assert sum(" relay.lab " in f" {line} " for line in listed.splitlines()) == 1


def _relay_journal_reaches_the_operator(lab: Lab, cloud: Machine, relay: Machine, relay_address: str) -> None:
    """#23: journal-remote on the relay's tunnel address only (for its edges), journal-upload to the cloud host
    over HTTPS, journal-remote there behind the firewall's relay-only rule; a relay log line arrives."""
    units = "systemd-journal-remote.socket systemd-journal-upload.service guardian-journal-vacuum.timer"
    upload_log = "journalctl -u systemd-journal-upload --no-pager | tail -20"
    states = lab.ssh(relay, f"systemctl is-active {units}", check=False).stdout.split()
    remote_log = "journalctl -u systemd-journal-remote --no-pager | tail -20"
    assert states == ["active"] * 3, lab.ssh(relay, upload_log).stdout + lab.ssh(cloud, remote_log).stdout
    listening = lab.ssh(relay, "ss -Hltn 'sport = :19532'").stdout.split()
    assert "10.77.0.1:19532" in listening and "*:19532" not in listening, listening  # the tunnel address only
    assert 'iifname "wg-guardian" tcp dport 19532 accept' in lab.ssh(relay, "nft list chain inet guardian input").stdout
    assert lab.ssh(cloud, "systemctl is-active systemd-journal-remote.socket").stdout.strip() == "active"
    rules = lab.ssh(cloud, "nft list chain inet guardian input").stdout
    assert f"ip saddr {relay_address} tcp dport 19532 accept" in rules, rules
    marker = f"guardian-journal-probe-{secrets.token_hex(4)}"
    lab.ssh(relay, f"logger -t guardian-probe {marker}")
    read = "journalctl -D /var/log/journal/remote -o cat -t guardian-probe --no-pager"
    deadline = time.monotonic() + 90
    while marker not in (shipped := lab.ssh(cloud, read, check=False).stdout) and time.monotonic() < deadline:
        time.sleep(1)
    assert marker in shipped, lab.ssh(relay, upload_log).stdout
