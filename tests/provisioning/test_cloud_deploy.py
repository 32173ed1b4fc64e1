"""The cloud deploy against a real target: PostgreSQL, the app (its API workers and its process for relay
calls), migrations, the web UI, nginx routing between them with a certificate from an ACME server (Pebble),
Prometheus on loopback scraping both, the first operator account, nftables, backups, and a restore of
those backups into a fresh target.

One deployed cloud (``deployed``, module scope) serves every test here: a deploy takes a minute or two.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.provisioning.conftest import results
from tests.provisioning.pebble import Pebble
from tests.provisioning.targets import Lab, Machine

pytestmark = pytest.mark.slow

NAME = "cloud.lab"
ADMIN = "operator@example.org"


def _changed(run: dict) -> list[str]:
    return [op["name"] for op in run["results"]["operations"] if op["success"] or op["error"]]


@dataclass
class Deployed:
    lab: Lab
    cloud: Machine
    pebble: Pebble
    env: dict[str, str]
    admin_password: str
    root: Path  # the root Pebble issues under: what a browser would trust
    output: str  # everything pyinfra printed in both runs
    second: dict

    def https(self, path: str, *curl: str, machine: Machine | None = None) -> str:
        """curl from outside the host (the controller's namespace), verifying the certificate by name."""
        m = machine or self.cloud
        return self.lab.controller_run(["curl", "-sS", "--cacert", str(self.root), "--resolve",
                                        f"{NAME}:443:{m.address}", *curl, f"https://{NAME}{path}"]).stdout


@pytest.fixture(scope="module")
def deployed(module_lab: Lab, releases: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    lab = module_lab
    tar = releases("cloud")
    cloud = lab.add("cloud")
    pebble = Pebble(lab)
    try:
        pebble.start()
        pebble.add_name(NAME, cloud)
        lab.wait_ssh(cloud)
        local = tmp_path_factory.mktemp("cloud-operator")
        password = secrets.token_urlsafe(18)
        (local / "admin-password").write_text(password + "\n")
        lab.write_inventory({"cloud": [["cloud", {"cloud_public_name": NAME}]]})
        env = {"GUARDIAN_LAB": str(lab.workdir / "lab.json"), "GUARDIAN_RELEASES": str(tar.parent),
               "GUARDIAN_APT_UPDATE": "0", "GUARDIAN_CLOUD_ADMIN_EMAIL": ADMIN,
               "GUARDIAN_CLOUD_ADMIN_PASSWORD_FILE": str(local / "admin-password"), "GUARDIAN_CLOUD_BACKUP_KEEP": "2",
               **pebble.env()}
        first_proc = lab.pyinfra("--json", "-y", "inventories/lab.py", "deploy_cloud.py", env=env)
        first = results(first_proc)
        assert first["results"]["totals"]["error"] == 0
        second_proc = lab.pyinfra("--json", "-y", "inventories/lab.py", "deploy_cloud.py", env=env)
        root = local / "pebble-root.pem"
        root.write_text(pebble.issuing_root())
        yield Deployed(lab, cloud, pebble, env, password, root,
                       "\n".join((first_proc.stdout, first_proc.stderr, second_proc.stdout, second_proc.stderr)),
                       results(second_proc))
    finally:
        pebble.close()


def test_cloud_deploy_answers_healthz_through_the_proxy(deployed: Deployed) -> None:
    lab, cloud = deployed.lab, deployed.cloud
    # From outside, by name, with the ACME certificate (verified against Pebble's root, as a browser would).
    # -f: a 502 while the app starts is retried without its body landing in the output.
    health = deployed.https("/healthz", "-f", "--retry", "30", "--retry-delay", "1", "--retry-all-errors")
    assert json.loads(health) == {"status": "ok"}
    issuer = lab.ssh(cloud, "openssl x509 -noout -issuer -in /etc/guardian/cloud-tls/tls.crt").stdout
    assert "Pebble" in issuer
    assert lab.ssh(cloud, "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/healthz").stdout == "301"
    prom = lab.ssh(cloud, "curl -s --retry 10 --retry-delay 1 --retry-all-errors http://127.0.0.1:9090/api/v1/status/config")
    assert "guardian-cloud" in prom.stdout
    # The API runs as cloud_workers (2) processes under one supervisor; relay calls reach their own process.
    workers = lab.ssh(cloud, "systemctl show -p MainPID --value guardian-cloud.service").stdout.strip()
    spawned = lab.ssh(cloud, f"pgrep -P {workers} -f multiprocessing.spawn --count").stdout.strip()
    assert spawned == "2"
    assert lab.ssh(cloud, "systemctl is-active guardian-cloud-relay-api.service").stdout.strip() == "active"
    unsigned = lab.ssh(cloud, "curl -sk -o /dev/null -w '%{http_code}' -X POST https://127.0.0.1/api/v1/ingest").stdout
    assert unsigned == "401"
    logged = lab.ssh(cloud, "journalctl -o cat -u guardian-cloud-relay-api.service | grep -c '/api/v1/ingest'")
    assert int(logged.stdout.strip() or 0) >= 1
    # Prometheus answers before it has loaded its targets: ask until they are there (or 60 tries).
    scraped: set[str] = set()
    for _ in range(60):
        targets = lab.ssh(cloud, "curl -s --retry 30 --retry-delay 1 --retry-all-errors http://127.0.0.1:9090/api/v1/targets")
        scraped = {t["scrapeUrl"] for t in json.loads(targets.stdout)["data"]["activeTargets"]
                   if t["labels"]["job"] == "guardian-cloud"}
        if scraped:
            break
        time.sleep(1)
    assert scraped == {"http://127.0.0.1:8000/metrics", "http://127.0.0.1:8001/metrics"}
    migrated = lab.ssh(cloud, "ls -a /var/lib/guardian-cloud/").stdout
    assert ".migrated-0.1.0" in migrated

    changed = _changed(deployed.second)
    assert changed == [], f"second run changed: {changed}"
    assert "Database schema migrated" not in json.dumps(deployed.second)  # migrations ran once


def test_the_web_ui_is_served(deployed: Deployed) -> None:
    index = deployed.https("/", "-H", "Accept: text/html")
    assert "<title>Guardian</title>" in index
    asset = next(part.split('"', 1)[0] for part in index.split('src="')[1:] if part.startswith("/assets/"))
    headers = deployed.https(asset, "-D", "-", "-o", "/dev/null")
    assert headers.startswith("HTTP/1.1 200") and "immutable" in headers  # nginx serves the hashed assets
    client_route = deployed.https("/events/some-id", "-H", "Accept: text/html")
    assert client_route == index


def test_the_first_operator_can_sign_in_and_the_password_is_not_logged(deployed: Deployed) -> None:
    body = json.dumps({"email": ADMIN, "password": deployed.admin_password})
    signed_in = deployed.https("/api/v1/auth/login", "-H", "Content-Type: application/json", "-d", body)
    token = json.loads(signed_in)["access_token"]
    me = json.loads(deployed.https("/api/v1/users/me", "-H", f"Authorization: Bearer {token}"))
    assert me["email"] == ADMIN and me["is_operator"] is True
    assert deployed.admin_password not in deployed.output
    journal = deployed.lab.ssh(deployed.cloud, "journalctl -o cat --no-pager; ls -a /etc/guardian/cloud").stdout
    assert deployed.admin_password not in journal and ".admin-password" not in journal


def test_certificate_renewal_by_timer(deployed: Deployed) -> None:
    lab, cloud = deployed.lab, deployed.cloud
    assert lab.ssh(cloud, "systemctl is-enabled guardian-acme-renew.timer; systemctl is-active guardian-acme-renew.timer"
                   ).stdout.split() == ["enabled", "active"]
    serial = "openssl x509 -noout -serial -in /etc/guardian/cloud-tls/tls.crt"
    before = lab.ssh(cloud, serial).stdout
    served = lab.controller_run(["sh", "-c", f"openssl s_client -connect {cloud.address}:443 -servername {NAME} "
                                 "</dev/null 2>/dev/null | openssl x509 -noout -serial"]).stdout
    assert served == before
    # What the timer starts: nothing is due (the certificate is new), and it succeeds.
    lab.ssh(cloud, "systemctl start guardian-acme-renew.service")
    assert lab.ssh(cloud, serial).stdout == before
    # A forced renewal: a new certificate, and nginx serves it (lego's renew hook reloaded it).
    lab.ssh(cloud, "guardian-acme renew-now")
    after = lab.ssh(cloud, serial).stdout
    assert after != before
    for _ in range(50):  # nginx's reload finishes after systemctl returns
        served = lab.controller_run(["sh", "-c", f"openssl s_client -connect {cloud.address}:443 -servername {NAME} "
                                     "</dev/null 2>/dev/null | openssl x509 -noout -serial"]).stdout
        if served == after:
            break
        time.sleep(0.2)
    assert served == after


def test_firewall_lets_in_only_ssh_http_and_https(deployed: Deployed) -> None:
    lab, cloud = deployed.lab, deployed.cloud
    # Prometheus, the app and PostgreSQL listen on loopback only.
    listening = lab.ssh(cloud, "ss -Hltn").stdout
    assert "127.0.0.1:9090" in listening and "*:9090" not in listening and "0.0.0.0:9090" not in listening
    # A service listening on every address, on a port the firewall does not open: unreachable from outside.
    lab.ssh(cloud, "systemd-run --unit=probe-listener python3 -m http.server 8088 --bind 0.0.0.0")
    assert lab.ssh(cloud, "curl -s -o /dev/null -w '%{http_code}' --retry 20 --retry-delay 1 --retry-all-errors "
                          "http://127.0.0.1:8088/").stdout == "200"
    blocked = lab.controller_run(["curl", "-s", "-o", "/dev/null", "--connect-timeout", "3",
                                  f"http://{cloud.address}:8088/"], check=False)
    assert blocked.returncode == 28  # connect timed out: the SYN was dropped
    for port in (22, 80, 443):
        opened = lab.controller_run(["bash", "-c", f"exec 3<>/dev/tcp/{cloud.address}/{port}"], check=False)
        assert opened.returncode == 0, port
    lab.ssh(cloud, "systemctl stop probe-listener")


def test_backup_restores_into_a_fresh_target(deployed: Deployed, tmp_path: Path) -> None:
    lab, a = deployed.lab, deployed.cloud
    # A tenant on A and a token A signed for it.
    signup = json.dumps({"email": "owner@example.org", "password": secrets.token_urlsafe(18), "tenant_name": "Home"})
    token = json.loads(deployed.https("/api/v1/auth/signup", "-H", "Content-Type: application/json", "-d", signup))[
        "access_token"]
    tenant = json.loads(deployed.https("/api/v1/tenant", "-H", f"Authorization: Bearer {token}"))

    # The timer's service, run now three times: a custom-format dump and the keys, root-only; the newest
    # two (cloud_backup_keep) of each are kept.
    assert lab.ssh(a, "systemctl is-enabled guardian-cloud-backup.timer").stdout.strip() == "enabled"
    for _ in range(3):
        lab.ssh(a, "systemctl start guardian-cloud-backup.service")
    listing = lab.ssh(a, "stat -c '%a %U' /var/backups/guardian-cloud; ls /var/backups/guardian-cloud").stdout.split()
    assert listing[:2] == ["700", "root"]
    dumps = sorted(n for n in listing[2:] if n.startswith("db-"))
    keys = sorted(n for n in listing[2:] if n.startswith("keys-"))
    assert len(dumps) == len(keys) == 2
    dump = tmp_path / dumps[-1]
    dump.write_bytes(base64.b64decode(lab.ssh(a, f"base64 -w0 /var/backups/guardian-cloud/{dumps[-1]}").stdout))
    assert dump.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(
            lab.ssh(a, f"base64 -w0 /var/backups/guardian-cloud/{keys[-1]}").stdout))) as tar:
        tar.extractall(tmp_path / "keys", filter="data")

    # B: a fresh host, deployed from the backup (lab TLS: the certificate is not what is restored here).
    b = lab.add("cloud-b")
    lab.wait_ssh(b)
    lab.write_inventory({"cloud": [["cloud-b", {"cloud_public_name": NAME}]]})
    env = {**deployed.env, "GUARDIAN_TLS_MODE": "lab", "GUARDIAN_CLOUD_RESTORE_DUMP": str(dump),
           "GUARDIAN_CLOUD_SECRET_KEY_FILE": str(tmp_path / "keys" / "secret_key"),
           "GUARDIAN_CLOUD_SIGNING_KEY_FILE": str(tmp_path / "keys" / "signing_key")}
    restored = results(lab.pyinfra("--json", "-y", "inventories/lab.py", "deploy_cloud.py", env=env))
    assert restored["results"]["totals"]["error"] == 0

    # B accepts the token A signed, and serves the same tenant; the operator made on A signs in on B.
    on_b = lab.ssh(b, f"curl -skf --retry 30 --retry-delay 1 --retry-all-errors -H 'Authorization: Bearer {token}' "
                      "https://127.0.0.1/api/v1/tenant").stdout
    assert json.loads(on_b) == tenant
    login = json.dumps({"email": ADMIN, "password": deployed.admin_password})
    status = lab.ssh(b, f"curl -sk -o /dev/null -w '%{{http_code}}' -H 'Content-Type: application/json' -d '{login}' "
                        "https://127.0.0.1/api/v1/auth/login").stdout
    assert status == "200"
