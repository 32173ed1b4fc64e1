"""``guardian-edge update-source``: where this box's systemd-sysupdate fetches updates (issue #19).

The transfers in /usr/lib/sysupdate.d fetch from ``http://guardian-updates:8480/``: the update mirror of
the relay this box enrolled with, on its tunnel address (agents/relay/update_mirror.py), so updates come
through the tunnel and the box needs no other route out. This command gives that name its address: it
prints the hosts line and, with ``--hosts FILE``, puts it into that file in place of any earlier one. It
runs as root before an update (``systemd-sysupdate.service``'s drop-in in the edge image, and the rollout).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agents.edge.config import DEFAULT_CONFIG, EdgeSettings
from agents.edge.enrolment import Enrolment, enrolment_path
from guardian.runtime.cli import add_config_argument
from guardian.runtime.config import load_settings

HOST_NAME = "guardian-updates"


def hosts_line(settings: EdgeSettings) -> str:
    """``<relay tunnel address> guardian-updates``; FileNotFoundError before enrolment."""
    return f"{Enrolment.load(enrolment_path(settings)).relay_tunnel_address} {HOST_NAME}"


def with_update_source(hosts: str, line: str) -> str:
    """``hosts`` with ``line`` as the only entry naming guardian-updates (other names on a line stay)."""
    kept = []
    for entry in hosts.splitlines():
        fields = entry.split("#", 1)[0].split()
        if HOST_NAME in fields[1:]:
            names = [name for name in fields[1:] if name != HOST_NAME]
            if not names:
                continue
            entry = " ".join([fields[0], *names])
        kept.append(entry)
    return "\n".join([*kept, line]) + "\n"


def write_hosts(path: Path, line: str) -> bool:
    """Put ``line`` into the hosts file at ``path`` atomically; False when it was there already."""
    try:
        current = path.read_text()
    except FileNotFoundError:
        current = ""
    updated = with_update_source(current, line)
    if updated == current:
        return False
    temporary = path.with_name(f".{path.name}.guardian-new")
    temporary.write_text(updated)
    if path.exists():
        os.chmod(temporary, path.stat().st_mode & 0o7777)
    os.replace(temporary, path)
    return True


def _update_source(args: argparse.Namespace) -> int:
    settings = load_settings(EdgeSettings, args.config)
    try:
        line = hosts_line(settings)
    except FileNotFoundError:
        print("guardian-edge update-source: not enrolled yet: updates come through the relay's tunnel",
              file=sys.stderr)
        return 1
    if args.hosts is not None:
        write_hosts(args.hosts, line)
    print(line)
    return 0


def add_update_source_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("update-source", help="where updates come from: the relay's mirror through the tunnel")
    add_config_argument(parser, DEFAULT_CONFIG, "GUARDIAN_EDGE_CONFIG")
    parser.add_argument("--hosts", type=Path, metavar="FILE",
                        help="also put the line into this hosts file (normally /etc/hosts)")
    parser.set_defaults(handler=_update_source)
