"""Certificates from an ACME CA with Debian's lego: issued once for the host's public name by http-01,
renewed by ``guardian-acme-renew.timer`` (twice a day; lego renews 30 days before expiry and then runs
the service's reload command). One script, ``/usr/local/sbin/guardian-acme`` (templates/guardian-acme.sh.j2),
holds the whole lego command line: ``issue``, ``renew`` (the timer) and ``renew-now`` (forced).

The service reads ``DIRECTORY/tls.crt`` and ``tls.key`` as before; here they are links to lego's files
in ``/etc/lego/certificates/`` (rewritten in place on renewal), so a renewal needs no copy. The ``lab``
TLS mode (tasks/tls.py) replaces all of this with the operator's files or a self-signed pair.

Production talks to Let's Encrypt (``acme_server``); the provisioning tests to Pebble, whose own HTTPS
certificate is signed by a test CA: ``acme_ca_file`` (uploaded; the script gives it to lego as
LEGO_CA_CERTIFICATES).
"""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.files import File, Link
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from tasks import tls as lab_tls
from tasks.common import TEMPLATES

LEGO = "/etc/lego"
SERVER_CA = "/etc/guardian/acme-server-ca.pem"
SCRIPT = "/usr/local/sbin/guardian-acme"


def issued_certificate(public_name: str) -> str:
    return f"{LEGO}/certificates/{public_name}.crt"


def placeholder(directory: str, public_name: str, what: str) -> list:
    """A self-signed pair until the first certificate is issued, for a server that must already run to
    answer the http-01 challenge (nginx); nothing once lego's files exist."""
    if host.get_fact(File, path=issued_certificate(public_name)) or host.get_fact(Link, path=f"{directory}/tls.key"):
        return []
    return lab_tls.certificate(directory, None, None, public_name, f"{what} (until the ACME certificate)")


def certificate(directory: str, public_name: str, what: str, *, webroot: str | None, deploy_hook: str) -> list:
    """``directory``/tls.crt and tls.key linked to lego's files for ``public_name``, issued once, renewed
    by the timer.

    ``webroot``: a directory a running web server serves at /.well-known/acme-challenge/ on port 80 (the
    cloud's nginx); None: lego answers on port 80 itself (the relay has no web server there).
    ``deploy_hook``: the shell command that makes the service use a renewed certificate. Returns the
    operations that change what the service serves.
    """
    email = host.data.get("acme_email")
    if not email:
        raise DeployError("set acme_email (GUARDIAN_ACME_EMAIL): the ACME account's contact, for expiry notices")
    changed = []
    ca = host.data.get("acme_ca_file")
    if ca:
        changed.append(files.put(name="CA of the ACME server's HTTPS installed (test server)",
                                 src=str(Path(ca).expanduser()), dest=SERVER_CA, mode="644"))
    script = files.template(name=f"{SCRIPT} knows how to issue and renew {public_name}",
                            src=str(TEMPLATES / "guardian-acme.sh.j2"), dest=SCRIPT, mode="755", lego=LEGO,
                            public_name=public_name, webroot=webroot, hook=deploy_hook,
                            server_ca=SERVER_CA if ca else None)
    if not host.get_fact(File, path=issued_certificate(public_name)):
        changed.append(server.shell(name=f"{what}: certificate for {public_name} issued by ACME",
                                    commands=[f"{SCRIPT} issue"]))
    for link, source in (("tls.crt", f"{public_name}.crt"), ("tls.key", f"{public_name}.key")):
        changed.append(files.link(name=f"{what}: {link} is lego's {source}", path=f"{directory}/{link}",
                                  target=f"{LEGO}/certificates/{source}", force=True, force_backup=False))
    units = [
        files.template(name=f"{unit} installed", src=str(TEMPLATES / f"{unit}.j2"), dest=f"/etc/systemd/system/{unit}",
                       mode="644", script=SCRIPT)
        for unit in ("guardian-acme-renew.service", "guardian-acme-renew.timer")
    ]
    systemd.daemon_reload(name="systemd knows the renewal units", _if=any_changed(script, *units))
    systemd.service(name="guardian-acme-renew.timer renews the certificate", service="guardian-acme-renew.timer",
                    running=True, enabled=True)
    return changed
