"""``guardian-relay update-source``: where this relay's own systemd-sysupdate fetches its updates (issue #19).

The image's transfers fetch from ``http://guardian-updates:8480/``. A relay updates through its own update
mirror, the one that serves its edges (agents/relay/update_mirror.py, on the tunnel address only): the files
come from the origin once for the relay and all its edges, and are checked against SHA256SUMS on the way.
This command gives the name that address: it prints the hosts line and, with ``--hosts FILE``, puts it into
that file in place of any earlier one. It runs as root before an update (``systemd-sysupdate.service``'s drop-in
in the relay image, and the rollout).
"""

from __future__ import annotations

import argparse

from agents.common import update_hosts
from agents.relay.config import DEFAULT_CONFIG, RelaySettings
from guardian.runtime.config import load_settings

# The port the images' transfers (/usr/lib/sysupdate.d) name.
TRANSFER_PORT = 8480


def mirror_address(settings: RelaySettings) -> str:
    """The address of this relay's update mirror (its tunnel address); NoUpdateSource when it serves none."""
    if not settings.updates.enabled:  # (enabled needs an origin: the config says so itself)
        raise update_hosts.NoUpdateSource(
            "[updates] is not enabled in the relay's config: it has no update mirror to update from "
            "(set [updates] enabled = true and origin = the release server)")
    if settings.updates.port != TRANSFER_PORT:
        raise update_hosts.NoUpdateSource(
            f"[updates] port = {settings.updates.port}, but the image's transfers fetch from port {TRANSFER_PORT}")
    if settings.tunnel.mode == "tls":
        return settings.uplink.tls_listen_address
    return settings.tunnel.relay_address


def add_update_source_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    update_hosts.add_update_source_command(
        sub, program="guardian-relay", help_text="where this relay's own updates come from: its update mirror",
        default_config=DEFAULT_CONFIG, env_var="GUARDIAN_RELAY_CONFIG",
        mirror_address=lambda config: mirror_address(load_settings(RelaySettings, config)))
