"""``guardian-edge update-source``: where this box's systemd-sysupdate fetches updates (issue #19).

The transfers in /usr/lib/sysupdate.d fetch from ``http://guardian-updates:8480/``: the update mirror of
the relay this box enrolled with, on its tunnel address (agents/relay/update_mirror.py), so updates come
through the tunnel and the box needs no other route out. This command gives that name its address: it
prints the hosts line and, with ``--hosts FILE``, puts it into that file in place of any earlier one. It
runs as root before an update (``systemd-sysupdate.service``'s drop-in in the edge image, and the rollout).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.common import update_hosts
from agents.edge.config import DEFAULT_CONFIG, EdgeSettings
from agents.edge.enrolment import Enrolment, enrolment_path
from guardian.runtime.config import load_settings


def _relay_tunnel_address(config: Path) -> str:
    try:
        return Enrolment.load(enrolment_path(load_settings(EdgeSettings, config))).relay_tunnel_address
    except FileNotFoundError:
        raise update_hosts.NoUpdateSource("not enrolled yet: updates come through the relay's tunnel") from None


def add_update_source_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    update_hosts.add_update_source_command(
        sub, program="guardian-edge", help_text="where updates come from: the relay's mirror through the tunnel",
        default_config=DEFAULT_CONFIG, env_var="GUARDIAN_EDGE_CONFIG", mirror_address=_relay_tunnel_address)
