"""The relay role: a plain Debian host becomes a tenant relay.

Packages, the agent at the pinned release, /etc/guardian/relay.toml, TLS material (by ACME, tasks/acme.py:
lego answers the http-01 challenge on port 80 itself; or the lab's files) and the request signing key
(as systemd credentials), the unit from units/, nftables (WireGuard + HTTPS + TURN only, HTTP for ACME,
SSH from the admin networks), sshd as its edges' jump host (``operator_ssh``), registration with the cloud,
and the service running.

Live view (``turn``): coturn from Debian with the TURN REST API shared secret only (no users), made once on
the relay (``turn.secret`` in the secrets directory; the relay gets it as a credential and mints
time-limited credentials from it). Its allocations live on the tunnel address and may reach nothing
but the tunnel network, so media only ever passes between a browser's and an edge's allocations here.

Registration (``register``): when the inventory has a ``cloud`` host (the one named by the relay's
``relay_cloud_host``, else the first of the group), the relay is looked up there by name with
``guardian-cloud relays list`` and, if absent, registered with ``guardian-cloud relays register NAME
--endpoint https://PUBLIC_NAME:PORT --public-key=KEY`` (KEY: the public half of the signing key this deploy
made on the relay). Both run over SSH on the cloud host, as the cloud service's user. The id the cloud
returns goes into relay.toml. A relay already listed under its name is not touched (a second run changes nothing);
listed under another endpoint, the deploy stops. (``relays list`` does not show keys: a rebuilt relay
with a new signing key must get it into the cloud by hand, PATCH /api/v1/relays/ID.) Without a
cloud host in the inventory, ``relay_id`` from host data is used (registration by hand, see README).
"""

from __future__ import annotations

import io
import ipaddress
import json
import secrets as secrets_module
from pathlib import Path

from pyinfra import host, inventory
from pyinfra.api.exceptions import DeployError
from pyinfra.api.host import Host
from pyinfra.facts.files import File, FileContents
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, python, server, systemd
from pyinfra.operations.util import any_changed

from tasks import acme, tls
from tasks import cloud as cloud_role
from tasks.common import (
    BASE,
    REPO,
    TEMPLATES,
    activate_release,
    deploy,
    install_release,
    release_tar,
    release_version,
)

SECRETS = "/etc/guardian/relay"
CREDENTIALS = "/run/credentials/guardian-relay.service"
CLOUD_CA = "/etc/guardian/relay-cloud-ca.pem"


@deploy("Relay packages")
def packages() -> None:
    apt.packages(
        name="WireGuard, Python and nftables installed",
        packages=["wireguard-tools", "wireguard-go", "python3", "python3-venv", "nftables", "openssl", "coturn",
                  *(["lego"] if host.data.tls_mode == "acme" else [])],
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
    if host.data.tls_mode == "acme":
        # A public certificate: edges and browsers need no relay CA. A renewal restarts the relay (it reads
        # its certificate as a credential at start).
        changed += acme.certificate(SECRETS, host.data.relay_public_name, "Relay TLS", webroot=None,
                                    deploy_hook="systemctl try-restart guardian-relay.service systemd-journal-upload.service")
    else:
        # Lab: the given certificate, else a self-signed one (edges pin the relay through their bootstrap).
        changed += tls.certificate(SECRETS, host.data.get("relay_tls_cert"), host.data.get("relay_tls_key"),
                                   host.data.relay_public_name, "Relay TLS")
    if not host.get_fact(File, path=f"{SECRETS}/signing.key"):
        # The Ed25519 key the relay signs its requests to the cloud with; the cloud keeps the public half.
        changed.append(server.shell(
            name="Relay request-signing key exists",
            commands=[f"umask 077; {BASE}/current/bin/python -c 'from guardian.contracts import auth; "
                      f"print(auth.private_key_to_text(auth.generate_private_key()))' > {SECRETS}/signing.key"],
        ))
    return changed


def tunnel_address() -> str:
    """The relay's address in the tunnel network (it takes the first one; agents/relay/config.py)."""
    return str(next(ipaddress.ip_network(host.data.relay_tunnel_network).hosts()))


# The TURN secret per host for this run: read back from the relay, or made now (first run) and then put there.
_TURN_SECRETS: dict[str, tuple[str, bool]] = {}


def _turn_secret_value() -> tuple[str, bool]:
    """(the secret, whether the relay has it already)."""
    if host.name not in _TURN_SECRETS:
        existing = host.get_fact(FileContents, path=f"{SECRETS}/turn.secret")
        found = "".join(existing or []).strip()
        _TURN_SECRETS[host.name] = (found, True) if found else (secrets_module.token_urlsafe(32), False)
    return _TURN_SECRETS[host.name]


@deploy("Relay TURN shared secret")
def turn_secret() -> list:
    """The secret coturn and the relay share (the relay reads it as a credential); made once."""
    secret, present = _turn_secret_value()
    if present:
        return []
    return [files.put(name="TURN shared secret exists", src=io.StringIO(secret + "\n"), dest=f"{SECRETS}/turn.secret",
                      mode="600")]


@deploy("Relay TURN server (coturn)")
def turn() -> None:
    """coturn configured from templates/turnserver.conf.j2 with the shared secret; started after the
    relay, whose tunnel address its allocations use."""
    secret, _present = _turn_secret_value()
    network = ipaddress.ip_network(host.data.relay_tunnel_network)
    conf = files.template(
        name="/etc/turnserver.conf is current (REST-API secret, tunnel-only peers)",
        src=str(TEMPLATES / "turnserver.conf.j2"), dest="/etc/turnserver.conf", mode="640", user="root",
        group="turnserver", secret=secret, realm=host.data.relay_public_name, listen_ips=[],
        port=host.data.relay_turn_port, relay_ip=tunnel_address(), min_port=host.data.relay_turn_min_port,
        max_port=host.data.relay_turn_max_port,
        allowed_peers=f"{network.network_address}-{network.broadcast_address}",
    )
    files.directory(name="coturn drop-in directory exists", path="/etc/systemd/system/coturn.service.d")
    dropin = files.put(
        name="coturn starts after the relay (its allocations are on the tunnel address)",
        src=io.StringIO("# Managed by provisioning/ (tasks/relay.py).\n[Unit]\nAfter=guardian-relay.service\n"
                        "Wants=guardian-relay.service\n[Service]\nRestartSec=2\n"),
        dest="/etc/systemd/system/coturn.service.d/10-guardian.conf", mode="644",
    )
    systemd.daemon_reload(name="systemd knows coturn's drop-in", _if=dropin.did_change)
    systemd.service(name="coturn restarted after a change", service="coturn.service", restarted=True,
                    _if=any_changed(conf, dropin))
    systemd.service(name="coturn enabled and running", service="coturn.service", running=True, enabled=True)


@deploy("Relay configuration and unit")
def service(extra_changes: list, relay_id: RelayId) -> list:
    """relay.toml, the unit and its credentials; the service (re)started. Returns relay.toml's operation
    (the journal's generator reads its tunnel network, tasks/journal.py)."""
    ca = host.data.get("cloud_ca_file")
    if ca:
        # Not secret, and read by the service's dynamic user: next to relay.toml, world-readable.
        extra_changes = [*extra_changes, files.put(name="CA that signed the cloud's certificate installed",
                                                   src=str(Path(ca).expanduser()), dest=CLOUD_CA, mode="644")]
    config = files.template(
        name="/etc/guardian/relay.toml is current", src=str(TEMPLATES / "relay.toml.j2"),
        dest="/etc/guardian/relay.toml", mode="644", credentials=CREDENTIALS, relay_id=relay_id,
        cloud_ca=CLOUD_CA if ca else None, turn_address=tunnel_address(),
    )
    if host.data.get("relay_updates_origin"):
        # The relay updates through its own mirror too (the images' transfers fetch from guardian-updates).
        files.line(name="guardian-updates names this relay's update mirror", path="/etc/hosts",
                   line=".* guardian-updates$", replace=f"{tunnel_address()} guardian-updates")
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
    return [config]


@deploy("Relay firewall")
def firewall() -> None:
    rules = files.template(name="nftables allows only WireGuard, HTTPS (and SSH from admin networks)",
                           src=str(TEMPLATES / "nftables-relay.conf.j2"), dest="/etc/nftables.conf", mode="755")
    server.shell(name="Firewall rules loaded", commands=["nft -f /etc/nftables.conf"], _if=rules.did_change)
    systemd.service(name="nftables loads the rules at boot", service="nftables.service", enabled=True)


# The relay is its edges' SSH jump host (pyinfra's ProxyJump): a rollout wave opens one connection here per edge of
# this relay in the wave, all at once and from the operator's address. sshd's default MaxStartups (10:30:100) drops
# unauthenticated connections beyond 10 at random, which the rollout reports as unreachable edges. A 25 % wave of a
# full tunnel network (253 edges) is 64: start dropping beyond 128. The relay image's socket has the same limit.
JUMP_HOST_SSHD = """# Guardian relay (provisioning/tasks/relay.py): a rollout wave's connections to the edges behind it at once.
MaxStartups 128:30:256
"""


@deploy("Relay operator SSH")
def operator_ssh() -> None:
    conf = files.put(name="sshd takes a rollout wave's jump connections at once (MaxStartups)",
                     src=io.StringIO(JUMP_HOST_SSHD), dest="/etc/ssh/sshd_config.d/50-guardian-jump-host.conf",
                     mode="644")
    server.shell(name="sshd accepts its configuration", commands=["/usr/sbin/sshd -t"], _if=conf.did_change)
    systemd.service(name="sshd reloaded after a change", service="ssh.service", reloaded=True, _if=conf.did_change)


# Prints the relay's signing public key (run on the relay; used by the registration on the cloud host).
PUBLIC_KEY_COMMAND = (
    f"{BASE}/current/bin/python -c 'from guardian.contracts import auth; print(auth.public_key_to_text("
    f"auth.private_key_from_text(open(\"{SECRETS}/signing.key\").read().strip())))'"
)


class RelayId:
    """The relay's cloud id, rendered into relay.toml. Known before the run when the cloud already lists
    the relay; otherwise set by the registration operation, which runs before the template is rendered
    (pyinfra renders templates again at execution time, in operation order)."""

    def __init__(self, value: str = "") -> None:
        self.value = value

    def __str__(self) -> str:
        return self.value


def relay_name() -> str:
    return host.data.get("relay_name") or host.data.relay_public_name


def cloud_host() -> Host | None:
    """The cloud host in this inventory that registers this relay, or None."""
    wanted = host.data.get("relay_cloud_host")
    if wanted:
        found = inventory.get_host(wanted, None)
        if found is None:
            raise DeployError(f"relay_cloud_host {wanted!r} is not in the inventory")
        return found
    group = inventory.get_group("cloud", [])
    return group[0] if group else None


def parse_relay_list(text: str) -> dict[str, dict[str, str]]:
    """``guardian-cloud relays list`` → {name: {"id", "endpoint_url"}} (one relay per line:
    ``ID  NAME  ENDPOINT  tenant=…  enabled  last_seen=…``; names and URLs have no spaces)."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[3:4] and fields[3].startswith("tenant="):
            out[fields[1]] = {"id": fields[0], "endpoint_url": fields[2], "line": line.strip()}
    return out


def _list_relays(cloud: Host) -> dict[str, dict[str, str]]:
    ok, output = cloud.run_shell_command(cloud_role.cli_command("relays list"))
    if not ok:
        raise DeployError(f"{cloud.name}: guardian-cloud relays list failed: {output.stderr[-500:]}")
    return parse_relay_list(output.stdout)


@deploy("Relay registered with the cloud")
def register() -> RelayId:
    cloud = cloud_host()
    if cloud is None:
        if not host.data.get("relay_id"):
            raise DeployError("no cloud host in the inventory and no relay_id in host data: register the relay "
                              "by hand (README, 'Registration with the cloud') or add the cloud host")
        return RelayId(host.data.relay_id)
    name = relay_name()
    endpoint = f"https://{host.data.relay_public_name}:{host.data.relay_enrolment_port}"
    listed = parse_relay_list(cloud.get_fact(Command, cloud_role.cli_command("relays list") + " 2>/dev/null || true") or "")
    if name in listed:
        if listed[name]["endpoint_url"] != endpoint:
            raise DeployError(f"the cloud lists relay {name} with endpoint {listed[name]['endpoint_url']}, "
                              f"not {endpoint}: change it there (PATCH /api/v1/relays/ID) or rename this relay")
        return RelayId(listed[name]["id"])
    relay_id = RelayId()

    def register_now() -> None:  # at execution time: the signing key exists by now
        cloud.connect(raise_exceptions=True)  # a no-op if connected (not when pyinfra ran with --limit)
        current = _list_relays(cloud)  # again: another run may have registered it meanwhile
        if name in current:
            relay_id.value = current[name]["id"]
            return
        ok, output = host.run_shell_command(PUBLIC_KEY_COMMAND)
        if not ok:
            raise DeployError(f"{host.name}: cannot read the relay's public key: {output.stderr[-500:]}")
        key = output.stdout.strip()
        ok, output = cloud.run_shell_command(cloud_role.cli_command(
            f"relays register {name} --endpoint {endpoint} --public-key={key}"))
        if not ok:
            raise DeployError(f"{cloud.name}: registering relay {name} failed: {output.stderr[-500:]}")
        relay_id.value = json.loads(output.stdout[output.stdout.index("{"):])["id"]

    python.call(name=f"Relay {name} registered with the cloud on {cloud.name}", function=register_now)
    return relay_id
