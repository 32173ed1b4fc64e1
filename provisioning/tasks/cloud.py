"""The cloud host: PostgreSQL, the cloud app (``guardian-cloud serve``) under systemd, migrations once
per release, the built web UI, nginx as the TLS reverse proxy (certificates by ACME, tasks/acme.py),
Prometheus on loopback scraping the cloud, the relays and itself, nightly backups, and nftables.

A fresh host can start from a backup instead of an empty database (``cloud_restore_dump``, with the
backed-up keys as ``cloud_secret_key_file``/``cloud_signing_key_file``); the first operator account is
created once from ``cloud_admin_email`` and ``cloud_admin_password_file``.

units/ has no cloud unit (the images carry edge and relay agents only), so the unit is a template here:
templates/guardian-cloud.service.j2.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from pyinfra import host, inventory
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from tasks import acme
from tasks import tls as tls_material
from tasks.common import (
    BASE,
    TEMPLATES,
    activate_release,
    deploy,
    install_release,
    release_tar,
    release_version,
)

SECRETS = "/etc/guardian/cloud"
STATE = "/var/lib/guardian-cloud"
USER = "guardian-cloud"
UI = f"{BASE}/ui"
PROXY_TLS = "/etc/guardian/cloud-tls"  # tls.crt and tls.key: nginx's, and journal-remote's (tasks/journal.py)
ACME_WEBROOT = "/var/lib/guardian-acme"  # nginx serves /.well-known/acme-challenge/ from here on port 80


def cli_command(args: str) -> str:
    """``guardian-cloud ARGS`` as the service runs it: its user (the database role, peer-authenticated)
    and its credentials, through a transient unit (migrations and relay registration use this)."""
    return (f"systemd-run --quiet --wait --pipe --collect -p User={USER} "
            f"-p LoadCredential=secret_key:{SECRETS}/secret_key "
            f"-p LoadCredential=signing_key:{SECRETS}/signing_key "
            f"/usr/bin/guardian-cloud {args} -c /etc/guardian/cloud.toml")


@deploy("Cloud packages")
def packages() -> None:
    apt.packages(
        name="PostgreSQL, nginx, Prometheus and Python installed",
        packages=["postgresql", host.data.cloud_nginx_package, "prometheus", "python3", "python3-venv", "openssl",
                  "nftables", *(["lego"] if host.data.tls_mode == "acme" else [])],
        update=host.data.apt_update, cache_time=86400, no_recommends=True,
    )


@deploy("Cloud database")
def database() -> None:
    systemd.service(name="PostgreSQL enabled and running", service="postgresql.service", running=True, enabled=True)
    server.user(name=f"System user {USER} exists", user=USER, system=True, home=STATE, shell="/usr/sbin/nologin",
                create_home=False)
    files.directory(name=f"{STATE} exists", path=STATE, user=USER, group=USER, mode="750")
    if not host.get_fact(File, path=f"{STATE}/.database-created"):
        db = host.data.cloud_database
        restore = _restore_command(db)
        # Peer authentication over the local socket: the role is the service's system user, no password.
        server.shell(
            name=f"Database {db} owned by role {USER} exists",
            commands=[
                "set -e; until runuser -u postgres -- pg_isready -q; do sleep 0.2; done; "
                f"runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c \"DO \\$\\$ BEGIN IF NOT EXISTS "
                f"(SELECT FROM pg_roles WHERE rolname = '{USER}') THEN CREATE ROLE \\\"{USER}\\\" LOGIN; END IF; END \\$\\$\"; "
                f"runuser -u postgres -- psql -tAc \"SELECT 1 FROM pg_database WHERE datname = '{db}'\" | grep -q 1 || "
                f"runuser -u postgres -- createdb -O {USER} {db}; {restore}touch {STATE}/.database-created"
            ],
        )


def _restore_command(db: str) -> str:
    """With ``cloud_restore_dump``: upload it (root-only) and the shell that loads it into the new database,
    its objects owned by the service's role; the app's migrations then bring it to this release."""
    dump = host.data.get("cloud_restore_dump")
    if not dump:
        return ""
    files.directory(name="Backup directory is root-only", path=host.data.cloud_backup_dir, mode="700")
    remote = f"{host.data.cloud_backup_dir}/restore-{Path(dump).name}"
    files.put(name="Database dump to restore uploaded", src=str(Path(dump).expanduser()), dest=remote, mode="600")
    return (f"runuser -u postgres -- pg_restore --no-owner --role={USER} --exit-on-error --single-transaction "
            f"-d {db} < {remote}; ")


@deploy("Cloud app")
def app() -> list:
    tar = release_tar("cloud")
    version = release_version(tar)
    changed = install_release(tar, "cloud")
    changed += activate_release(version, ("guardian-cloud",))
    files.directory(name="/etc/guardian exists", path="/etc/guardian", mode="755")
    files.directory(name="Cloud secrets directory is root-only", path=SECRETS, mode="700")
    for secret in ("secret_key", "signing_key"):
        local = host.data.get(f"cloud_{secret}_file")
        if local:
            changed.append(files.put(name=f"Cloud {secret} installed", src=str(Path(local).expanduser()),
                                     dest=f"{SECRETS}/{secret}", mode="600"))
        elif not host.get_fact(File, path=f"{SECRETS}/{secret}"):
            make = ("openssl rand -base64 48 | tr -d '\\n'" if secret == "secret_key" else
                    f"{BASE}/current/bin/python -c 'from guardian.contracts import auth; "
                    "print(auth.private_key_to_text(auth.generate_private_key()), end=\"\")'")
            changed.append(server.shell(name=f"Cloud {secret} generated on the host (none given)",
                                        commands=[f"umask 077; {make} > {SECRETS}/{secret}"]))
    ui()  # read from disk per request: no restart for a new UI
    changed.append(files.template(name="/etc/guardian/cloud.toml is current", src=str(TEMPLATES / "cloud.toml.j2"),
                                  dest="/etc/guardian/cloud.toml", mode="644", service_user=USER, ui_dir=UI))
    units = [
        files.template(name=f"{unit} installed", src=str(TEMPLATES / "guardian-cloud.service.j2"),
                       dest=f"/etc/systemd/system/{unit}", mode="644", secrets=SECRETS, service_user=USER, **unit_vars)
        for unit, unit_vars in _units().items()
    ]
    changed += units
    systemd.daemon_reload(name="systemd knows the cloud units", _if=any_changed(*units))
    stamp = f"{STATE}/.migrated-{version}"
    if not host.get_fact(File, path=stamp):
        # Once per release, before the new version serves, with the service's user and credentials.
        changed.append(server.shell(
            name=f"Database schema migrated for {version}",
            commands=[f"{cli_command('migrate')} && touch {stamp}"],
        ))
    for unit in _units():
        systemd.service(name=f"{unit} restarted after a change", service=unit, restarted=True,
                        _if=any_changed(*changed))
        systemd.service(name=f"{unit} enabled and running", service=unit, running=True, enabled=True)
    first_admin()
    return changed


def ui() -> None:
    """The built web UI (``cloud_ui_dist``) in /opt/guardian/ui: the app serves index.html and client routes
    (with its security headers), nginx the hashed assets."""
    dist = Path(host.data.cloud_ui_dist).expanduser()
    if not (dist / "index.html").is_file():
        raise DeployError(f"{dist}: no built web UI (run `npm run build` in ui/, or scripts/setup.sh)")
    files.directory(name=f"{UI} exists", path=UI, mode="755")
    files.sync(name="Web UI uploaded", src=str(dist), dest=UI, mode="644", dir_mode="755", delete=True,
               exclude=".guardian-build", add_deploy_dir=False)


def first_admin() -> None:
    """The first operator account from inventory data, once (stamp ``.admin-created``). The password goes
    through a root-only file that the same command deletes: never on a command line, never in a log."""
    email, password_file = host.data.get("cloud_admin_email"), host.data.get("cloud_admin_password_file")
    if not (email and password_file) or host.get_fact(File, path=f"{STATE}/.admin-created"):
        return
    password = Path(password_file).expanduser().read_text().strip()
    staged = f"{SECRETS}/.admin-password"
    files.put(name="First operator's password staged (root-only, removed below)", src=io.StringIO(password + "\n"),
              dest=staged, mode="600")
    # A restored database may hold the account already: that is success too.
    server.shell(
        name=f"Operator account {email} exists",
        commands=[f"out=$({cli_command(f'create-admin {email} --password-stdin')} < {staged} 2>&1); rc=$?; "
                  f"rm -f {staged}; if [ $rc -ne 0 ] && ! echo \"$out\" | grep -q 'exists'; then echo \"$out\" >&2; "
                  f"exit $rc; fi; touch {STATE}/.admin-created"],
    )


def _units() -> dict[str, dict[str, Any]]:
    """The cloud's two services: the API's workers, and one process for relay calls with a larger CPU share."""
    return {
        "guardian-cloud.service": {"role": "API", "serve_args": "", "cpu_weight": 100},
        "guardian-cloud-relay-api.service": {
            "role": "relay calls: ingest, revocations, enrolment",
            "serve_args": f" --port {host.data.cloud_relay_api_port} --workers 1",
            "cpu_weight": host.data.cloud_relay_api_cpu_weight,
        },
    }


@deploy("Cloud reverse proxy")
def proxy() -> None:
    tls = PROXY_TLS
    files.directory(name="Proxy TLS directory is root-only", path=tls, mode="700")
    name = host.data.cloud_public_name
    acme_mode = host.data.tls_mode == "acme"
    if acme_mode:
        files.directory(name=f"{ACME_WEBROOT} exists (http-01 challenges)", path=ACME_WEBROOT, mode="755")
        changed = acme.placeholder(tls, name, "Proxy TLS")  # nginx must run to answer the first challenge
    else:
        changed = tls_material.certificate(tls, host.data.get("cloud_tls_cert"), host.data.get("cloud_tls_key"),
                                           name, "Proxy TLS")
    snippet = files.template(name="nginx proxy settings for the cloud", src=str(TEMPLATES / "nginx-cloud-proxy.conf.j2"),
                             dest="/etc/nginx/snippets/guardian-cloud-proxy.conf", mode="644")
    site = files.template(name="nginx site proxies HTTPS to the cloud app", src=str(TEMPLATES / "nginx-cloud.conf.j2"),
                          dest="/etc/nginx/sites-available/guardian-cloud", mode="644", tls=tls,
                          acme_webroot=ACME_WEBROOT if acme_mode else None, ui=UI)
    files.link(name="nginx site enabled", path="/etc/nginx/sites-enabled/guardian-cloud",
               target="/etc/nginx/sites-available/guardian-cloud")
    default = files.link(name="nginx default site disabled", path="/etc/nginx/sites-enabled/default", present=False)
    systemd.service(name="nginx enabled and running", service="nginx.service", running=True, enabled=True)
    systemd.service(name="nginx reloaded after a change", service="nginx.service", reloaded=True,
                    _if=any_changed(snippet, site, default, *changed))
    if acme_mode:
        # journal-remote serves the same certificate to the relays (tasks/journal.py), when it runs here.
        renew_hook = ("systemctl try-reload-or-restart nginx.service systemd-journal-remote.service"
                      if host.data.get("operator_journal_sources") else "systemctl reload nginx.service")
        issued = acme.certificate(tls, name, "Proxy TLS", webroot=ACME_WEBROOT,
                                  deploy_hook=renew_hook)
        systemd.service(name="nginx reloaded with the ACME certificate", service="nginx.service", reloaded=True,
                        _if=any_changed(*issued))


@deploy("Prometheus")
def prometheus() -> None:
    # Debian's unit passes $ARGS from /etc/default/prometheus: listen on loopback only (nginx does not proxy it).
    listen = files.line(name="Prometheus listens on loopback only", path="/etc/default/prometheus", line="^ARGS=.*",
                        replace='ARGS="--web.listen-address=127.0.0.1:9090"')
    relays = [h.data.get("relay_metrics_target") for h in inventory.get_group("relays", [])]
    config = files.template(name="Prometheus scrapes the cloud, the relays and itself",
                            src=str(TEMPLATES / "prometheus.yml.j2"), dest="/etc/prometheus/prometheus.yml",
                            mode="644", relays=[r for r in relays if r])
    systemd.service(name="Prometheus enabled and running", service="prometheus.service", running=True, enabled=True)
    systemd.service(name="Prometheus reloaded after a change", service="prometheus.service", reloaded=True,
                    _if=config.did_change)
    systemd.service(name="Prometheus restarted on its new listen address", service="prometheus.service",
                    restarted=True, _if=listen.did_change)


@deploy("Cloud backups")
def backups() -> None:
    """pg_dump -Fc of the database and a tar of the secrets into ``cloud_backup_dir`` (root-only), by
    guardian-cloud-backup.timer; the newest ``cloud_backup_keep`` of each are kept. Copy them off the host
    (docs/operations.md, "Backups")."""
    files.directory(name="Backup directory is root-only", path=host.data.cloud_backup_dir, mode="700")
    script = files.template(name="Backup script installed", src=str(TEMPLATES / "guardian-cloud-backup.sh.j2"),
                            dest="/usr/local/sbin/guardian-cloud-backup", mode="755", secrets=SECRETS)
    units = [
        files.template(name=f"{unit} installed", src=str(TEMPLATES / f"{unit}.j2"), dest=f"/etc/systemd/system/{unit}",
                       mode="644")
        for unit in ("guardian-cloud-backup.service", "guardian-cloud-backup.timer")
    ]
    systemd.daemon_reload(name="systemd knows the backup units", _if=any_changed(script, *units))
    systemd.service(name="Backup timer enabled and running", service="guardian-cloud-backup.timer", running=True,
                    enabled=True)


@deploy("Cloud firewall")
def firewall() -> None:
    rules = files.template(name="nftables allows only SSH, HTTP and HTTPS", src=str(TEMPLATES / "nftables-cloud.conf.j2"),
                           dest="/etc/nftables.conf", mode="755")
    server.shell(name="Firewall rules loaded", commands=["nft -f /etc/nftables.conf"], _if=rules.did_change)
    systemd.service(name="nftables loads the rules at boot", service="nftables.service", enabled=True)
