"""The relay role: a plain Debian host becomes a tenant relay.

Packages, the agent at the pinned release, /etc/guardian/relay.toml, TLS material and the request
signing key (as systemd credentials), the unit from units/, nftables (WireGuard + HTTPS only, SSH from
the admin networks), and the service running. Registration with the cloud is a separate deploy run
against the cloud host: deploy_register_relays.py (tasks/cloud.py, ``register_relays``).
"""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from tasks.common import BASE, REPO, TEMPLATES, activate_release, install_release, release_tar, release_version

SECRETS = "/etc/guardian/relay"
CREDENTIALS = "/run/credentials/guardian-relay.service"


@deploy("Relay packages")
def packages() -> None:
    apt.packages(
        name="WireGuard, Python and nftables installed",
        packages=["wireguard-tools", "wireguard-go", "python3", "python3-venv", "nftables", "openssl"],
        update=host.data.apt_update,
        cache_time=86400,
        no_recommends=True,
    )


@deploy("Relay agent")
def agent() -> list:
    tar = release_tar("relay")
    changed = install_release(tar, "relay")
    changed += activate_release(release_version(tar), ("guardian-relay",))
    return changed


@deploy("Relay TLS material and signing key")
def secrets() -> list:
    changed = []
    files.directory(name="/etc/guardian exists", path="/etc/guardian", mode="755")
    files.directory(name="Relay secrets directory is root-only", path=SECRETS, mode="700")
    cert, key = host.data.get("relay_tls_cert"), host.data.get("relay_tls_key")
    if cert and key:
        changed.append(files.put(name="TLS certificate installed", src=str(Path(cert).expanduser()),
                                 dest=f"{SECRETS}/tls.crt", mode="644"))
        changed.append(files.put(name="TLS key installed", src=str(Path(key).expanduser()),
                                 dest=f"{SECRETS}/tls.key", mode="600"))
    elif not host.get_fact(File, path=f"{SECRETS}/tls.key"):
        # No certificate given: a self-signed one, once (edges pin the relay through their bootstrap).
        name = host.data.relay_public_name
        changed.append(server.shell(
            name=f"Self-signed TLS certificate for {name} exists",
            commands=[f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 "
                      f"-subj /CN={name} -addext subjectAltName=DNS:{name} "
                      f"-keyout {SECRETS}/tls.key -out {SECRETS}/tls.crt 2>/dev/null && chmod 600 {SECRETS}/tls.key"],
        ))
    if not host.get_fact(File, path=f"{SECRETS}/signing.key"):
        # The Ed25519 key the relay signs its requests to the cloud with; the cloud keeps the public half.
        changed.append(server.shell(
            name="Relay request-signing key exists",
            commands=[f"umask 077; {BASE}/current/bin/python -c 'from guardian import tokens; "
                      f"print(tokens.private_key_to_text(tokens.generate_private_key()))' > {SECRETS}/signing.key"],
        ))
    return changed


@deploy("Relay configuration and unit")
def service(extra_changes: list) -> None:
    config = files.template(
        name="/etc/guardian/relay.toml is current", src=str(TEMPLATES / "relay.toml.j2"),
        dest="/etc/guardian/relay.toml", mode="644", credentials=CREDENTIALS,
    )
    unit_src = REPO / "units" / "guardian-relay.service"
    unit = files.put(name="guardian-relay.service from units/ installed", src=str(unit_src),
                     dest="/etc/systemd/system/guardian-relay.service", mode="644")
    files.directory(name="Unit drop-in directory exists", path="/etc/systemd/system/guardian-relay.service.d")
    dropin = files.template(
        name="Drop-in passes TLS material and signing key as credentials",
        src=str(TEMPLATES / "guardian-relay-credentials.conf.j2"),
        dest="/etc/systemd/system/guardian-relay.service.d/10-provisioning.conf", mode="644", secrets=SECRETS,
    )
    systemd.daemon_reload(name="systemd knows the changed units", _if=any_changed(unit, dropin))
    systemd.service(name="guardian-relay restarted after a change", service="guardian-relay.service",
                    restarted=True, _if=any_changed(config, unit, dropin, *extra_changes))
    systemd.service(name="guardian-relay enabled and running", service="guardian-relay.service",
                    running=True, enabled=True)


@deploy("Relay firewall")
def firewall() -> None:
    rules = files.template(name="nftables allows only WireGuard, HTTPS (and SSH from admin networks)",
                           src=str(TEMPLATES / "nftables-relay.conf.j2"), dest="/etc/nftables.conf", mode="755")
    server.shell(name="Firewall rules loaded", commands=["nft -f /etc/nftables.conf"], _if=rules.did_change)
    systemd.service(name="nftables loads the rules at boot", service="nftables.service", enabled=True)


# Prints the relay's signing public key (run on the relay; used by the registration on the cloud host).
PUBLIC_KEY_COMMAND = (
    f"{BASE}/current/bin/python -c 'from guardian import tokens; print(tokens.public_key_to_text("
    f"tokens.private_key_from_text(open(\"{SECRETS}/signing.key\").read().strip())))'"
)
