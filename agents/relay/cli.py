"""``guardian-relay``: the relay's command line.

    guardian-relay run              run the relay (enrolment, tunnel, uplink, cache, forwarding)
    guardian-relay check-config     validate the config file and exit
    guardian-relay show-config      print the effective config
    guardian-relay device list      enrolled devices with their status
    guardian-relay device revoke ID revoke a device (its peer is removed within one reconcile interval; the
                                    cloud revokes it too on the next health report)
    guardian-relay signing-key      create the relay's cloud signing key if absent; print its public half
    guardian-relay scrape-targets FILE
                                    write the active edges as Prometheus file_sd targets (run by a timer)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agents.relay.config import DEFAULT_CONFIG, RelaySettings
from agents.relay.update_source import add_update_source_parser
from guardian.runtime.cli import add_config_argument, add_config_commands, run_cli, start_logging
from guardian.runtime.config import load_settings
from guardian.runtime.service import run_agent

if TYPE_CHECKING:
    from sqlalchemy.orm import sessionmaker

    from agents.common.sqlite import WriterSession

ENV = "GUARDIAN_RELAY_CONFIG"


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(RelaySettings, args.config)
    start_logging(settings, settings.log_level)
    from agents.relay.service import RelayAgent

    return run_agent(RelayAgent(settings))


def _registry(args: argparse.Namespace) -> sessionmaker[WriterSession]:
    from agents.relay.db import open_database

    settings = load_settings(RelaySettings, args.config)
    _engine, sessions = open_database(settings.cache.database)
    return sessions


def _device_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from agents.relay.db.tables import Device

    sessions = _registry(args)
    with sessions() as session:
        devices = list(session.scalars(select(Device).order_by(Device.enrolled_at)))
    rows = [
        {
            "device_id": d.device_id,
            "label": d.label,
            "tunnel_address": d.tunnel_address,
            "status": "revoked" if d.revoked_at else d.status,
            "reason": d.status_reason,
            "last_seen": d.last_seen.isoformat() if d.last_seen else None,
            "enrolled_at": d.enrolled_at.isoformat(),
        }
        for d in devices
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['device_id']}\t{r['tunnel_address']}\t{r['status']}\t{r['last_seen'] or '-'}\t{r['label']}")
    return 0


def _device_revoke(args: argparse.Namespace) -> int:
    from agents.relay.registry import revoke_device

    revoke_device(_registry(args), args.device_id)
    print(f"{args.device_id}: revoked")
    return 0


def _signing_key(args: argparse.Namespace) -> int:
    from guardian.contracts import auth

    settings = load_settings(RelaySettings, args.config)
    path = settings.cloud.signing_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(auth.private_key_to_text(auth.generate_private_key()))
    key = auth.private_key_from_text(path.read_text())
    print(auth.public_key_to_text(key))
    return 0


def _scrape_targets(args: argparse.Namespace) -> int:
    from agents.relay.scrape_targets import active_devices, edge_agents, file_sd_groups, write_file_sd

    settings = load_settings(RelaySettings, args.config)
    groups = file_sd_groups(active_devices(_registry(args)), relay_id=settings.cloud.relay_id,
                            agents=edge_agents(archive_enabled=settings.archive.enabled))
    write_file_sd(args.output, groups)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guardian-relay", description="Guardian tenant relay")
    sub = parser.add_subparsers(metavar="COMMAND")
    add_config_commands(
        sub, default_path=DEFAULT_CONFIG, env_var=ENV, load=lambda path: load_settings(RelaySettings, path),
        summary=lambda settings: f"mode {settings.tunnel.mode}, tenant {settings.cloud.tenant_id}",
    )
    for name, handler, help_text in (
        ("run", _run, "run the relay"),
        ("signing-key", _signing_key, "create the cloud signing key if absent and print its public key"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        add_config_argument(cmd, DEFAULT_CONFIG, ENV)
        cmd.set_defaults(handler=handler)
    device = sub.add_parser("device", help="enrolled devices")
    device_sub = device.add_subparsers(metavar="ACTION")
    listing = device_sub.add_parser("list", help="list devices")
    add_config_argument(listing, DEFAULT_CONFIG, ENV)
    listing.add_argument("--json", action="store_true", help="JSON output")
    listing.set_defaults(handler=_device_list)
    revoke = device_sub.add_parser("revoke", help="revoke a device")
    add_config_argument(revoke, DEFAULT_CONFIG, ENV)
    revoke.add_argument("device_id")
    revoke.set_defaults(handler=_device_revoke)
    targets = sub.add_parser("scrape-targets", help="write the active edges as Prometheus file_sd targets")
    add_config_argument(targets, DEFAULT_CONFIG, ENV)
    targets.add_argument("output", type=Path, help="the file_sd JSON file the relay's Prometheus reads")
    targets.set_defaults(handler=_scrape_targets)
    add_update_source_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
