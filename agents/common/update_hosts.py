"""The name both images' update transfers fetch from, ``guardian-updates`` (issue #19), and the hosts-file line
that gives it an address: the update mirror of a relay on its tunnel address (agents/relay/update_mirror.py).
An edge points it at the relay it enrolled with (``guardian-edge update-source``), a relay at its own mirror
(``guardian-relay update-source``); each image's systemd-sysupdate.service does so before it fetches, and so
does the rollout (provisioning/tasks/image_update.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from guardian.runtime.cli import add_config_argument

HOST_NAME = "guardian-updates"


def hosts_line(address: str) -> str:
    return f"{address} {HOST_NAME}"


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


class NoUpdateSource(Exception):
    """The box cannot name its update mirror yet (an edge not enrolled, a relay without ``[updates]``)."""


def add_update_source_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, program: str,
                              help_text: str, default_config: str, env_var: str,
                              mirror_address: Callable[[Path], str]) -> None:
    """``PROGRAM update-source [-c CONFIG] [--hosts FILE]``: print the hosts line naming the mirror at
    ``mirror_address(config)`` and, with ``--hosts``, put it into that file; exit 1 with the reason when
    ``mirror_address`` raises NoUpdateSource."""

    def run(args: argparse.Namespace) -> int:
        try:
            line = hosts_line(mirror_address(args.config))
        except NoUpdateSource as exc:
            print(f"{program} update-source: {exc}", file=sys.stderr)
            return 1
        if args.hosts is not None:
            write_hosts(args.hosts, line)
        print(line)
        return 0

    parser = sub.add_parser("update-source", help=help_text)
    add_config_argument(parser, default_config, env_var)
    parser.add_argument("--hosts", type=Path, metavar="FILE",
                        help="also put the line into this hosts file (normally /etc/hosts)")
    parser.set_defaults(handler=run)
