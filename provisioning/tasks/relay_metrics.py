"""The relay's metrics path to the operator (issue #23): Prometheus in agent mode and the edges as targets.

Debian's prometheus in agent mode scrapes the relay agent, prometheus-node-exporter (both on loopback)
and the relay's edges over the tunnel (file_sd, written every minute from the relay's registry by
``guardian-relay scrape-targets``), and remote-writes to ``relay_remote_write_url``: the operator's
Prometheus with ``--web.enable-remote-write-receiver``. Kept apart from tasks/relay.py so that the relay's
own deploy is unchanged; deploy_relay.py calls it after ``relay.service``.
"""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from tasks.common import BASE, TEMPLATES, deploy

TARGETS_FILE = "/run/guardian-relay-targets/edges.json"


@deploy("Relay metrics forwarded to the operator")
def relay_metrics(relay_id: object) -> None:
    apt.packages(
        name="Prometheus and the node exporter installed",
        packages=["prometheus", "prometheus-node-exporter"],
        update=host.data.apt_update,
        cache_time=86400,
        no_recommends=True,
    )
    ca = host.data.get("relay_remote_write_ca_file")
    changes = []
    if ca:
        changes.append(
            files.put(
                name="CA of the operator's Prometheus installed",
                src=str(Path(ca).expanduser()),
                dest="/etc/prometheus/operator-ca.pem",
                mode="644",
            )
        )
    changes.append(
        files.template(
            name="Agent-mode Prometheus config is current",
            src=str(TEMPLATES / "prometheus-relay.yml.j2"),
            dest="/etc/prometheus/prometheus.yml",
            mode="644",
            relay_id=relay_id,
            targets_file=TARGETS_FILE,
        )
    )
    changes.append(
        files.template(
            name="Prometheus runs in agent mode on loopback",
            src=str(TEMPLATES / "prometheus-relay.default.j2"),
            dest="/etc/default/prometheus",
            mode="644",
        )
    )
    units = [
        files.template(
            name=f"{name} installed",
            src=str(TEMPLATES / f"{name}.j2"),
            dest=f"/etc/systemd/system/{name}",
            mode="644",
            base=BASE,
            targets_file=TARGETS_FILE,
        )
        for name in ("guardian-relay-scrape-targets.service", "guardian-relay-scrape-targets.timer")
    ]
    systemd.daemon_reload(name="systemd knows the scrape-targets units", _if=any_changed(*units))
    systemd.service(
        name="Scrape targets refreshed every minute",
        service="guardian-relay-scrape-targets.timer",
        running=True,
        enabled=True,
    )
    systemd.service(
        name="Node exporter running", service="prometheus-node-exporter.service", running=True, enabled=True
    )
    systemd.service(
        name="Prometheus restarted after a change",
        service="prometheus.service",
        restarted=True,
        _if=any_changed(*changes),
    )
    systemd.service(
        name="Prometheus enabled and running", service="prometheus.service", running=True, enabled=True
    )
