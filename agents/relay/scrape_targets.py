"""The relay's edges as Prometheus scrape targets (file_sd), for the relay's agent-mode Prometheus.

The relay's Prometheus (``provisioning/templates/prometheus-relay.yml.j2``) scrapes every active edge over
the tunnel at ``<tunnel address>:9460/metrics/<agent>`` (the edge uplink's scrape proxy, which fetches
each agent's loopback exporter; agents/edge/uplink/scrape_proxy.py) and remote-writes to the operator's
Prometheus. Each target carries ids only (tenant, relay, device, agent): never a device label, a camera
name or an e-mail, which are the tenant's data. Revoked devices are left out, so a revoked edge stops being scraped at the next
write. The file is replaced atomically: Prometheus re-reads a file_sd file when it changes and must never
see half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from agents.relay.db.tables import Device
from guardian.runtime.logging import get_logger

log = get_logger("guardian.relay.scrape_targets")

# The edge uplink's scrape proxy (agents/edge/uplink/config.py, [uplink.scrape_proxy]): the edge agents'
# exporters listen on the edge's loopback only, the proxy serves each one at /metrics/<agent>.
EDGE_SCRAPE_PORT = 9460
EDGE_AGENTS: tuple[str, ...] = ("archive", "detector", "node", "recorder", "uplink")


def edge_agents(*, archive_enabled: bool) -> tuple[str, ...]:
    """The edge agents that can run under this relay: an edge's archive uploader has nowhere to upload
    unless the relay accepts archives (``[archive] enabled``), so it is not scraped (it would be ``up == 0``
    for ever). Under a relay that accepts them, an edge whose tenant set no archive secret is ``up == 0``."""
    return EDGE_AGENTS if archive_enabled else tuple(a for a in EDGE_AGENTS if a != "archive")


def file_sd_groups(
    devices: Iterable[Device], *, relay_id: str, port: int = EDGE_SCRAPE_PORT, agents: Iterable[str] = EDGE_AGENTS
) -> list[dict[str, object]]:
    """One target group per (device, agent): Prometheus' file_sd format, sorted so equal input writes equal files."""
    groups: list[dict[str, object]] = []
    for device in sorted(devices, key=lambda d: d.device_id):
        for agent in sorted(agents):
            groups.append(
                {
                    "targets": [f"{device.tunnel_address}:{port}"],
                    "labels": {
                        "__metrics_path__": f"/metrics/{agent}",
                        "tenant": device.tenant_id,
                        "relay": relay_id,
                        "device": device.device_id,
                        "agent": agent,
                    },
                }
            )
    return groups


def active_devices(sessions: sessionmaker) -> list[Device]:
    with sessions() as session:
        return list(session.scalars(select(Device).where(Device.revoked_at.is_(None))))


def write_file_sd(path: Path, groups: list[dict[str, object]]) -> bool:
    """Write ``groups`` to ``path`` atomically; ``False`` (and no write) when the file already holds them."""
    text = json.dumps(groups, indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # read by the prometheus user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("scrape_targets_written", targets=len(groups))
    return True
