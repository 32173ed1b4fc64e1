"""The cloud host: PostgreSQL, the cloud app (``guardian-cloud serve``) under systemd, migrations once
per release, nginx as the TLS reverse proxy, Prometheus scraping the cloud, the relays and itself.

units/ has no cloud unit (the images carry edge and relay agents only), so the unit is a template here:
templates/guardian-cloud.service.j2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyinfra import host, inventory
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

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
        packages=["postgresql", host.data.cloud_nginx_package, "prometheus", "python3", "python3-venv", "openssl"],
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
        # Peer authentication over the local socket: the role is the service's system user, no password.
        server.shell(
            name=f"Database {db} owned by role {USER} exists",
            commands=[
                "set -e; until runuser -u postgres -- pg_isready -q; do sleep 0.2; done; "
                f"runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c \"DO \\$\\$ BEGIN IF NOT EXISTS "
                f"(SELECT FROM pg_roles WHERE rolname = '{USER}') THEN CREATE ROLE \\\"{USER}\\\" LOGIN; END IF; END \\$\\$\"; "
                f"runuser -u postgres -- psql -tAc \"SELECT 1 FROM pg_database WHERE datname = '{db}'\" | grep -q 1 || "
                f"runuser -u postgres -- createdb -O {USER} {db}; touch {STATE}/.database-created"
            ],
        )


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
    changed.append(files.template(name="/etc/guardian/cloud.toml is current", src=str(TEMPLATES / "cloud.toml.j2"),
                                  dest="/etc/guardian/cloud.toml", mode="644", service_user=USER))
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
    return changed


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
    tls = "/etc/guardian/cloud-tls"
    files.directory(name="Proxy TLS directory is root-only", path=tls, mode="700")
    changed = tls_material.certificate(tls, host.data.get("cloud_tls_cert"), host.data.get("cloud_tls_key"),
                                       host.data.cloud_public_name, "Proxy TLS")
    snippet = files.template(name="nginx proxy settings for the cloud", src=str(TEMPLATES / "nginx-cloud-proxy.conf.j2"),
                             dest="/etc/nginx/snippets/guardian-cloud-proxy.conf", mode="644")
    site = files.template(name="nginx site proxies HTTPS to the cloud app", src=str(TEMPLATES / "nginx-cloud.conf.j2"),
                          dest="/etc/nginx/sites-available/guardian-cloud", mode="644", tls=tls)
    files.link(name="nginx site enabled", path="/etc/nginx/sites-enabled/guardian-cloud",
               target="/etc/nginx/sites-available/guardian-cloud")
    default = files.link(name="nginx default site disabled", path="/etc/nginx/sites-enabled/default", present=False)
    systemd.service(name="nginx enabled and running", service="nginx.service", running=True, enabled=True)
    systemd.service(name="nginx reloaded after a change", service="nginx.service", reloaded=True,
                    _if=any_changed(snippet, site, default, *changed))


@deploy("Prometheus")
def prometheus() -> None:
    relays = [h.data.get("relay_metrics_target") for h in inventory.get_group("relays", [])]
    config = files.template(name="Prometheus scrapes the cloud, the relays and itself",
                            src=str(TEMPLATES / "prometheus.yml.j2"), dest="/etc/prometheus/prometheus.yml",
                            mode="644", relays=[r for r in relays if r])
    systemd.service(name="Prometheus enabled and running", service="prometheus.service", running=True, enabled=True)
    systemd.service(name="Prometheus reloaded after a change", service="prometheus.service", reloaded=True,
                    _if=config.did_change)
