"""The relay's scrape targets (agents/relay/scrape_targets.py) list only the edge agents that can run under
the relay: the archive uploader only when the relay accepts archives (else it would be up == 0 for ever)."""

from __future__ import annotations

from agents.relay.db.tables import Device
from agents.relay.scrape_targets import edge_agents, file_sd_groups


def agents_scraped(archive_enabled: bool) -> set[str]:
    device = Device(device_id="dev-a", tenant_id="t1", tunnel_address="10.77.0.2")
    groups = file_sd_groups([device], relay_id="r1", agents=edge_agents(archive_enabled=archive_enabled))
    return {group["labels"]["agent"] for group in groups}  # type: ignore[index]


def test_the_archive_uploader_is_scraped_only_under_a_relay_that_accepts_archives() -> None:
    assert agents_scraped(archive_enabled=False) == {"detector", "node", "recorder", "uplink"}
    assert agents_scraped(archive_enabled=True) == {"archive", "detector", "node", "recorder", "uplink"}
