"""The relay deploy against a real target: a debootstrapped Debian booted with systemd-nspawn in its
own network namespace, reached over SSH by pyinfra; its certificate from an ACME server (Pebble)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from guardian.contracts import auth
from tests.provisioning.conftest import results
from tests.provisioning.pebble import Pebble
from tests.provisioning.targets import PROVISIONING, Lab

sys.path.append(str(PROVISIONING))  # provisioning/ is pyinfra's working directory, not a package
from fleet.plan import full_relay_wave

pytestmark = pytest.mark.slow


def _env(lab: Lab, releases_dir: Path, admin: str) -> dict[str, str]:
    return {
        "GUARDIAN_LAB": str(lab.workdir / "lab.json"),
        "GUARDIAN_RELEASES": str(releases_dir),
        "GUARDIAN_APT_UPDATE": "0",  # the lab has no archive access; the tree has the packages
        "GUARDIAN_ADMIN_NETWORKS": f"{admin}/32",
        "GUARDIAN_CLOUD_TOKEN_KEYS": auth.public_key_to_text(auth.generate_private_key()),
        "GUARDIAN_CLOUD_URL": "",
    }


@pytest.fixture
def pebble(lab: Lab) -> Iterator[Pebble]:
    server = Pebble(lab)
    try:
        server.start()
        yield server
    finally:
        server.close()


WAVE = full_relay_wave()  # a rollout wave's share of a relay whose tunnel network is full (64)
UPDATES_PORT = 8099  # the release origin's, in the controller's namespace
PUBLISHED = f"{'ab' * 32}  guardian-relay_0.2.0_x86-64.efi\n"


@pytest.fixture
def update_origin(lab: Lab, tmp_path: Path) -> Iterator[None]:
    """A release origin (issue #19) where the relays reach the controller: a published SHA256SUMS and its
    signature (the relay's mirror passes them on; the appliance checks the signature)."""
    published = tmp_path / "published" / "guardian-relay"
    published.mkdir(parents=True)
    (published / "SHA256SUMS").write_text(PUBLISHED)
    (published / "SHA256SUMS.gpg").write_bytes(b"signature")
    server = subprocess.Popen(["ip", "netns", "exec", lab.controller, sys.executable, "-m", "http.server",
                               str(UPDATES_PORT), "--directory", str(published.parent)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield
    server.terminate()
    server.wait(10)


def test_relay_deploy_makes_a_running_relay_and_is_idempotent(lab: Lab, pebble: Pebble, releases: Callable[..., Path],
                                                              tmp_path: Path, update_origin: None) -> None:
    tar = releases("relay")
    relay = lab.add("relay")
    pebble.add_name("relay.lab", relay)
    lab.wait_ssh(relay)
    lab.write_inventory({"relays": [["relay", {"relay_id": "rly-lab", "tenant_id": "ten-lab",
                                               "relay_public_name": "relay.lab"}]]})
    env = {**_env(lab, tar.parent, relay.peer_address), **pebble.env(),
           "GUARDIAN_UPDATES_ORIGIN": f"http://{relay.peer_address}:{UPDATES_PORT}/"}

    dry = lab.pyinfra("--json", "--dry", "inventories/lab.py", "deploy_relay.py", env=env)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "Release 0.1.0 installed" in dry.stdout  # the plan names what would happen

    first = results(lab.pyinfra("--json", "-y", "inventories/lab.py", "deploy_relay.py", env=env))
    assert first["results"]["totals"]["error"] == 0
    assert first["results"]["totals"]["success"] > 5

    state = lab.ssh(relay, "systemctl is-active guardian-relay; readlink /opt/guardian/current; "
                           "nft list chain inet guardian input").stdout
    assert state.splitlines()[0] == "active"
    assert state.splitlines()[1] == "releases/0.1.0"
    assert "udp dport 51820 accept" in state and "tcp dport 8443 accept" in state and "policy drop" in state
    assert "tcp dport 80 accept" in state  # ACME http-01 (lego answers on renewal)
    # The WireGuard hub is up (wireguard-go inside the target) and the enrolment port answers TLS.
    assert "wg-guardian" in lab.ssh(relay, "ip -br link").stdout
    probe = lab.ssh(relay, "curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1:8443/", check=False)
    assert probe.stdout.isdigit() and probe.stdout != "000"
    # From outside, by name: the certificate Pebble issued verifies against its root (no relay CA needed).
    root = tmp_path / "pebble-root.pem"
    root.write_text(pebble.issuing_root())
    verified = lab.controller_run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", str(root),
                                   "--resolve", f"relay.lab:8443:{relay.address}", "--retry", "20", "--retry-delay",
                                   "1", "--retry-all-errors", "https://relay.lab:8443/"])
    assert verified.stdout.isdigit() and verified.stdout != "000"
    assert lab.ssh(relay, "systemctl is-enabled guardian-acme-renew.timer").stdout.strip() == "enabled"
    # A forced renewal through the same script the timer runs: lego answers the challenge on port 80 itself
    # (through the firewall), and the relay restarts with the new certificate.
    serial = "openssl x509 -noout -serial -in /etc/guardian/relay/tls.crt"
    before = lab.ssh(relay, serial).stdout
    lab.ssh(relay, "guardian-acme renew-now")
    assert lab.ssh(relay, serial).stdout != before
    # The firewall from outside: a listener on a port it does not open is unreachable, 8443 is reachable.
    lab.ssh(relay, "systemd-run --unit=probe-listener python3 -m http.server 8088 --bind 0.0.0.0")
    assert lab.ssh(relay, "curl -s -o /dev/null -w '%{http_code}' --retry 20 --retry-delay 1 --retry-all-errors "
                          "http://127.0.0.1:8088/").stdout == "200"
    blocked = lab.controller_run(["curl", "-s", "-o", "/dev/null", "--connect-timeout", "3",
                                  f"http://{relay.address}:8088/"], check=False)
    assert blocked.returncode == 28  # connect timed out: the SYN was dropped
    assert lab.controller_run(["bash", "-c", f"exec 3<>/dev/tcp/{relay.address}/8443"], check=False).returncode == 0
    lab.ssh(relay, "systemctl stop probe-listener")

    # Updates (#19): the relay's mirror serves the published index on its tunnel address, and the relay names
    # it guardian-updates for its own systemd-sysupdate; only the tunnel may reach it from outside.
    assert "tcp dport 8480 accept" in state and 'iifname "wg-guardian" tcp dport 8480' in state
    mirror = lab.ssh(relay, "getent hosts guardian-updates; curl -sS --retry 20 --retry-delay 1 --retry-all-errors "
                            "http://guardian-updates:8480/guardian-relay/SHA256SUMS").stdout
    assert mirror.split()[:2] == ["10.77.0.1", "guardian-updates"] and mirror.endswith(PUBLISHED), mirror
    assert "10.77.0.1:8480" in lab.ssh(relay, "ss -Htln 'sport = :8480'").stdout

    # Live view's TURN server runs, with the REST-API secret only (0640, readable by coturn's user), and
    # the relay is configured with the same secret file; the firewall lets TURN in.
    assert lab.ssh(relay, "systemctl is-active coturn").stdout.strip() == "active"
    assert "th dport 3478 accept" in state
    conf = lab.ssh(relay, "stat -c '%a %U %G' /etc/turnserver.conf; grep -c '^use-auth-secret' /etc/turnserver.conf; "
                          "cat /etc/guardian/relay/turn.secret").stdout.split("\n")
    assert conf[0] == "640 root turnserver" and conf[1] == "1" and len(conf[2]) >= 32
    turn_state = lab.ssh(relay, "ss -Hlun 'sport = :3478' | wc -l; grep -c 'secret_file' /etc/guardian/relay.toml").stdout
    assert [int(n) for n in turn_state.split()] >= [1, 1]

    # The relay is its edges' jump host (#19): a rollout wave's connections, 64 at once from the operator's address,
    # all get in (sshd's default MaxStartups, 10:30:100, dropped some of them at random).
    assert "maxstartups 128:30:256" in lab.ssh(relay, "/usr/sbin/sshd -T").stdout
    with ThreadPoolExecutor(WAVE) as pool:
        wave = list(pool.map(lambda _: lab.ssh(relay, "sleep 5; echo in", check=False), range(WAVE)))
    refused = [r.stderr.strip()[-160:] for r in wave if r.stdout.strip() != "in"]
    assert refused == [], f"{len(refused)} of {WAVE} refused: {refused[:3]}"

    second = results(lab.pyinfra("--json", "-y", "inventories/lab.py", "deploy_relay.py", env=env))
    changed = [op["name"] for op in second["results"]["operations"] if op["success"] or op["error"]]
    assert changed == [], f"second run changed: {changed}"
    assert second["results"]["totals"]["no_change"] == second["results"]["totals"]["hosts"] > 0
    assert lab.ssh(relay, "systemctl is-active guardian-relay").stdout.strip() == "active"
