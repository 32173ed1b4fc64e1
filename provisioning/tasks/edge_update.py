"""Edge update, one stage's worth of hosts: upload and install the new release beside the current one,
then ``guardian-activate`` switches ``current`` atomically, restarts the agents and checks their health;
an unhealthy edge is switched back to its previous release and the operation fails for that host.
Then "heartbeats arriving": the edge's relay (its SSH jump host) must list a heartbeat from the edge newer
than the switch (``heartbeats_after_switch``); if none comes, ``guardian-activate --revert`` switches the
edge back and the host fails.

The stages (canary, waves) and the per-edge report are provisioning/rollout.py's job.
fleet/wave.py tells a rolled-back edge from a failed one by these operations' names (ending
"(else rolled back)") and messages ("rolled back to", "; reverted"): keep them in step.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from pyinfra import host, inventory
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import files, python, server, systemd
from pyinfra.operations.util import any_changed

from tasks.common import (
    BASE,
    TEMPLATES,
    current_version,
    deploy,
    install_release,
    release_tar,
    release_version,
)


@deploy("Edge release update")
def update() -> None:
    extra = host.data.edge_release_extra
    tar = release_tar(extra)
    version = release_version(tar)
    install_release(tar, extra)
    units = host.data.edge_health_units
    script = files.template(name="guardian-activate installed", src=str(TEMPLATES / "guardian-activate.sh.j2"),
                            dest="/usr/local/sbin/guardian-activate", mode="755", base=BASE, units=units,
                            timeout=host.data.edge_health_timeout, settle=host.data.edge_health_settle)
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
        if host.data.edge_heartbeat_timeout > 0:
            heartbeats_after_switch(version)


def last_seen(listing: str, device_id: str) -> float | None:
    """The device's ``last_seen`` (epoch seconds) in ``guardian-relay device list --json`` output."""
    for row in json.loads(listing):
        if row.get("device_id") == device_id and row.get("last_seen"):
            seen = datetime.fromisoformat(row["last_seen"])
            return (seen if seen.tzinfo else seen.replace(tzinfo=UTC)).timestamp()
    return None


def heartbeats_after_switch(version: str) -> None:
    edge = host
    relay = inventory.get_host(edge.data.get("edge_relay") or "", None)
    device = edge.data.get("edge_device_id")
    if relay is None or not device:
        raise DeployError(f"{edge.name}: the heartbeat check needs host data edge_relay (in the inventory) and "
                          "edge_device_id (or set edge_heartbeat_timeout = 0)")
    command, timeout = edge.data.edge_heartbeat_command, edge.data.edge_heartbeat_timeout

    def check() -> None:  # at execution time, right after guardian-activate succeeded on this edge
        relay.connect(raise_exceptions=True)  # a no-op if connected (not when pyinfra ran with --limit EDGE)
        # The relay's clock on both sides of the comparison: read after the switch, so a heartbeat
        # newer than this was sent by the new release.
        ok, out = relay.run_shell_command("date +%s")
        if not ok:
            raise DeployError(f"{relay.name}: cannot read the clock: {out.stderr[-300:]}")
        switched = float(out.stdout.strip())
        deadline, seen, error = time.monotonic() + timeout, None, ""
        while time.monotonic() < deadline:
            ok, out = relay.run_shell_command(command)
            if ok:
                try:
                    seen = last_seen(out.stdout, device)
                except ValueError as exc:
                    error = f"unreadable device list: {exc}"
                if seen is not None and seen > switched:
                    return
            else:
                error = out.stderr[-300:]
            time.sleep(2)
        ok, out = edge.run_shell_command(f"/usr/local/sbin/guardian-activate --revert {version}")
        what = "reverted" if ok else f"revert FAILED ({out.stderr[-300:]})"
        raise DeployError(f"{edge.name}: no heartbeat from {device} at {relay.name} newer than the switch to "
                          f"{version} within {timeout} s (last seen {seen}; {error or 'no error'}); {what}")

    python.call(name=f"Heartbeats from {device} reach {relay.name} after the switch (else rolled back)",
                function=check)
