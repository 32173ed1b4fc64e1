"""Logs to the operator (issue #23): the journals of edges, relays and the operator's host.

    edge --journal-upload, http inside WireGuard--> relay: systemd-journal-remote on the tunnel address
    relay --journal-upload, HTTPS--> operator's host (the cloud host): systemd-journal-remote, port 19532

``relay_journal``: the relay receives its edges' journals exactly as the relay image does, with the image's
own files (mkosi.profiles/relay/mkosi.extra): the generator that binds systemd-journal-remote.socket to the
tunnel address read from relay.toml and enables it, the service drop-in (``--split-mode=none``: all edges in one
file, /var/log/journal/remote/remote.journal, which the forwarder reads in arrival order) and the size limits;
nftables opens 19532 on the WireGuard interface only. With ``relay_journal_upload_url`` it uploads its own journal
there (systemd-journal-upload.service) and forwards its edges' (guardian-journal-forward.service from the relay
image, with a cursor of its own): both read the URL from one journal-upload.conf.d file and name the relay's TLS
pair, passed as credentials, on their command lines.

``operator_journal``: with ``operator_journal_sources`` (the relays' addresses), the operator's host runs
systemd-journal-remote over HTTPS with the cloud proxy's certificate (templates/journal-remote-operator.conf.j2)
and nftables lets only those addresses reach it. Why HTTPS and not plain HTTP: relays reach this host over the
internet, not through a tunnel, and logs name devices and tenants. The relays' journal-upload verifies this host
by that certificate (``cloud_ca_file`` for a private CA) and presents its own TLS key, which journal-remote does
not check (Debian builds it without GnuTLS's client checks, ``--trust`` "is not available"; and relays hold
publicly issued certificates, not ones of a CA of ours): who may upload is what the firewall's source list allows.

The received directories are bounded by journal-remote.conf's MaxUse= (systemd >= 253) and, for Debian 12's 252,
by guardian-journal-vacuum.timer (``journalctl --directory … --vacuum-size``).
"""

from __future__ import annotations

import io

from pyinfra import host
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from tasks.common import REPO, TEMPLATES, deploy

IMAGE_FILES = REPO / "mkosi.profiles" / "relay" / "mkosi.extra"
GENERATOR = "usr/lib/systemd/system-generators/guardian-journal-remote-generator"
REMOTE_DROPIN = "usr/lib/systemd/system/systemd-journal-remote.service.d/50-guardian.conf"
REMOTE_LIMITS = "usr/lib/systemd/journal-remote.conf.d/50-guardian.conf"
FORWARD = "guardian-journal-forward.service"  # the edges' journals to the operator
REMOTE_TMPFILES = "usr/lib/tmpfiles.d/guardian-journal-remote.conf"  # the received directory exists from boot
REMOTE_DIR = "/var/log/journal/remote"
PORT = 19532
RELAY_SECRETS = "/etc/guardian/relay"  # tasks/relay.py: tls.crt and tls.key


def _package() -> None:
    apt.packages(name="systemd-journal-remote installed (journal-remote and journal-upload)",
                 packages=["systemd-journal-remote"], update=host.data.apt_update, cache_time=86400,
                 no_recommends=True)


def _limits_and_vacuum() -> list:
    files.directory(name="journal-remote.conf.d exists", path="/etc/systemd/journal-remote.conf.d")
    limits = files.put(name="Received journals are size-limited (journal-remote.conf)",
                       src=str(IMAGE_FILES / REMOTE_LIMITS), dest="/etc/systemd/journal-remote.conf.d/50-guardian.conf",
                       mode="644")
    units = [
        files.template(name=f"{unit} installed", src=str(TEMPLATES / f"{unit}.j2"), dest=f"/etc/systemd/system/{unit}",
                       mode="644", directory=REMOTE_DIR)
        for unit in ("guardian-journal-vacuum.service", "guardian-journal-vacuum.timer")
    ]
    return [limits, *units]


@deploy("Relay journal: the edges' journals in, the relay's own out")
def relay_journal(relay_config_changes: list) -> None:
    _package()
    generator = files.put(name="Generator binds journal-remote to the tunnel address (from the relay image)",
                          src=str(IMAGE_FILES / GENERATOR),
                          dest="/etc/systemd/system-generators/guardian-journal-remote-generator", mode="755")
    files.directory(name="journal-remote drop-in directory exists",
                    path="/etc/systemd/system/systemd-journal-remote.service.d")
    dropin = files.put(name="journal-remote writes one journal per edge (from the relay image)",
                       src=str(IMAGE_FILES / REMOTE_DROPIN),
                       dest="/etc/systemd/system/systemd-journal-remote.service.d/50-guardian.conf", mode="644")
    changes = [generator, dropin, *_limits_and_vacuum()]
    # daemon-reload also reruns the generator: relay.toml's tunnel network may have changed.
    systemd.daemon_reload(name="systemd knows the journal units (generator rerun)",
                          _if=any_changed(*changes, *relay_config_changes))
    server.shell(name="journal-remote listens anew after a change",
                 commands=["systemctl stop systemd-journal-remote.service systemd-journal-remote.socket"],
                 _if=any_changed(*changes, *relay_config_changes))
    # Enabled by the generator (sockets.target.wants) whenever relay.toml is there; started here.
    systemd.service(name="journal-remote socket listening on the tunnel address",
                    service="systemd-journal-remote.socket", running=True)
    systemd.service(name="Received journals vacuumed daily", service="guardian-journal-vacuum.timer", running=True,
                    enabled=True)
    url = host.data.get("relay_journal_upload_url")
    if not url:
        return
    ca = host.data.get("cloud_ca_file")
    files.directory(name="journal-upload.conf.d exists", path="/etc/systemd/journal-upload.conf.d")
    conf = files.template(name="journal-upload sends to the operator's host",
                          src=str(TEMPLATES / "journal-upload-relay.conf.j2"),
                          dest="/etc/systemd/journal-upload.conf.d/50-guardian.conf", mode="644", url=url,
                          trust="/etc/guardian/relay-cloud-ca.pem" if ca else "/etc/ssl/certs/ca-certificates.crt")
    credentials = f"LoadCredential=tls.key:{RELAY_SECRETS}/tls.key\nLoadCredential=tls.crt:{RELAY_SECRETS}/tls.crt\n"
    files.directory(name="journal-upload drop-in directory exists",
                    path="/etc/systemd/system/systemd-journal-upload.service.d")
    upload_dropin = files.put(
        name="journal-upload gets the relay's TLS key as a credential",
        src=io.StringIO(
            "# Managed by provisioning/ (tasks/journal.py).\n[Unit]\n"
            "# The operator's host may be out of reach for a while: never give up restarting.\n"
            "StartLimitIntervalSec=0\n\n[Service]\n" + credentials +
            "# The key on the command line, not in journal-upload.conf.d: guardian-journal-forward.service reads that\n"
            "# file too, with credentials of its own.\n"
            "ExecStart=\nExecStart=/usr/lib/systemd/systemd-journal-upload --save-state --key=%d/tls.key --cert=%d/tls.crt\n"
            "Restart=always\nRestartSec=30s\n"),
        dest="/etc/systemd/system/systemd-journal-upload.service.d/50-guardian.conf", mode="644")
    # The edges' journals: the relay image's unit, its received directory made at boot, the same credentials.
    forward_unit = files.put(name=f"{FORWARD} installed (from the relay image)",
                             src=str(IMAGE_FILES / "usr/lib/systemd/system" / FORWARD),
                             dest=f"/etc/systemd/system/{FORWARD}", mode="644")
    tmpfiles = files.put(name="The received journals' directory exists from boot (from the relay image)",
                         src=str(IMAGE_FILES / REMOTE_TMPFILES), dest="/etc/tmpfiles.d/guardian-journal-remote.conf",
                         mode="644")
    server.shell(name="The received journals' directory exists", _if=tmpfiles.did_change,
                 commands=["systemd-tmpfiles --create /etc/tmpfiles.d/guardian-journal-remote.conf"])
    files.directory(name=f"{FORWARD} drop-in directory exists", path=f"/etc/systemd/system/{FORWARD}.d")
    forward_dropin = files.put(
        name=f"{FORWARD} gets the relay's TLS key as a credential",
        src=io.StringIO(f"# Managed by provisioning/ (tasks/journal.py).\n[Service]\n{credentials}"),
        dest=f"/etc/systemd/system/{FORWARD}.d/50-guardian.conf", mode="644")
    systemd.daemon_reload(name="systemd knows the journal uploads' units and drop-ins",
                          _if=any_changed(upload_dropin, forward_unit, forward_dropin))
    systemd.service(name="journal-upload restarted after a change", service="systemd-journal-upload.service",
                    restarted=True, _if=any_changed(conf, upload_dropin))
    systemd.service(name="journal-upload to the operator enabled and running", service="systemd-journal-upload.service",
                    running=True, enabled=True)
    systemd.service(name=f"{FORWARD} restarted after a change", service=FORWARD, restarted=True,
                    _if=any_changed(conf, forward_unit, forward_dropin, tmpfiles))
    systemd.service(name="The edges' journals forwarded to the operator (enabled and running)", service=FORWARD,
                    running=True, enabled=True)


@deploy("Operator journal: the relays' journals in")
def operator_journal(tls_directory: str) -> None:
    if not host.data.get("operator_journal_sources"):
        return
    _package()
    files.directory(name="journal-remote drop-in directory exists",
                    path="/etc/systemd/system/systemd-journal-remote.service.d")
    dropin = files.template(name="journal-remote serves HTTPS with the proxy's certificate",
                            src=str(TEMPLATES / "journal-remote-operator.conf.j2"),
                            dest="/etc/systemd/system/systemd-journal-remote.service.d/50-guardian.conf", mode="644",
                            tls=tls_directory, directory=REMOTE_DIR)
    changes = [dropin, *_limits_and_vacuum()]
    systemd.daemon_reload(name="systemd knows the journal units", _if=any_changed(*changes))
    systemd.service(name="journal-remote stopped after a change (its socket starts it anew)",
                    service="systemd-journal-remote.service", running=False, _if=any_changed(*changes))
    systemd.service(name="journal-remote socket enabled and listening", service="systemd-journal-remote.socket",
                    running=True, enabled=True)
    systemd.service(name="Received journals vacuumed daily", service="guardian-journal-vacuum.timer", running=True,
                    enabled=True)

