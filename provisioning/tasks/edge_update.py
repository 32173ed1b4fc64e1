"""Edge update, one stage's worth of hosts: upload and install the new release beside the current one,
then ``guardian-activate`` switches ``current`` atomically, restarts the agents and checks their health;
an unhealthy edge is switched back to its previous release and the operation fails for that host.

The stages (canary, batches) and the per-device report are provisioning/rollout.py's job.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from tasks.common import BASE, TEMPLATES, current_version, install_release, release_tar, release_version


@deploy("Edge release update")
def update() -> None:
    extra = host.data.edge_release_extra
    tar = release_tar(extra)
    version = release_version(tar)
    install_release(tar, extra)
    units = host.data.edge_health_units
    script = files.template(name="guardian-activate installed", src=str(TEMPLATES / "guardian-activate.sh.j2"),
                            dest="/usr/local/sbin/guardian-activate", mode="755", base=BASE, units=units,
                            timeout=host.data.edge_health_timeout)
    selftest = files.template(name="Release self-test unit installed",
                              src=str(TEMPLATES / "guardian-edge-selftest.service.j2"),
                              dest="/etc/systemd/system/guardian-edge-selftest.service", mode="644")
    systemd.daemon_reload(name="systemd knows the self-test unit", _if=any_changed(script, selftest))
    systemd.service(name="Self-test enabled at boot", service="guardian-edge-selftest.service",
                    running=None, enabled=True)  # started by guardian-activate after a switch
    files.link(name="/usr/bin/guardian-edge points into the current release", path="/usr/bin/guardian-edge",
               target=f"{BASE}/current/bin/guardian-edge")
    if current_version() != version:
        server.shell(name=f"Release {version} active and healthy (else rolled back)",
                     commands=[f"/usr/local/sbin/guardian-activate {version}"])
