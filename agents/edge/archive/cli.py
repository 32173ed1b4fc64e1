"""``guardian-edge archive …``: set the archive secret, run the uploader, show and retry the queue.

    guardian-edge archive set-secret      read the secret from the terminal (twice) or stdin; keep only
                                          its Argon2id-derived key (0600); never from argv
    guardian-edge archive run             run the archive uploader agent
    guardian-edge archive status [--json] [--status S]   the queue, one line per event
    guardian-edge archive retry EVENT_ID  queue an over_quota or failed event again
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TextIO

from agents.edge.config import DEFAULT_CONFIG, EdgeSettings
from guardian.runtime.cli import add_config_argument
from guardian.runtime.config import load_settings
from guardian.runtime.errors import GuardianError

ENV = "GUARDIAN_EDGE_CONFIG"


def read_secret(stdin: TextIO | None = None) -> str:
    """From the terminal (asked twice, not echoed) or, when stdin is not a terminal, its first line."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        first = getpass.getpass("New archive secret: ")
        if getpass.getpass("Repeat it: ") != first:
            raise GuardianError("the two entries differ; nothing was changed")
        return first
    return stdin.readline().rstrip("\r\n")


def _set_secret(args: argparse.Namespace) -> int:
    from agents.edge.archive.keystore import set_secret
    from agents.edge.archive.service import key_path

    settings = load_settings(EdgeSettings, args.config)
    path = key_path(settings)
    secret = read_secret()
    set_secret(path, secret)
    del secret
    print(f"archive key derived and stored in {path}; keep the secret safe: it is the only way to open "
          "archived clips, and it is not stored anywhere")
    return 0


def _run(args: argparse.Namespace) -> int:
    from agents.edge.archive.service import ArchiveAgent
    from guardian.runtime.logging import configure_logging
    from guardian.runtime.service import run_agent

    settings = load_settings(EdgeSettings, args.config)
    configure_logging(settings.log_level)
    return run_agent(ArchiveAgent(settings))


def _status(args: argparse.Namespace) -> int:
    from agents.edge.archive import queue
    from agents.edge.archive.service import open_queue

    sessions = open_queue(load_settings(EdgeSettings, args.config))
    with sessions() as session:
        rows = [{"event_id": i.event_id, "status": i.status, "attempts": i.attempts, "size": i.size,
                 "cid": i.cid, "reason": i.reason, "updated_at": i.updated_at.isoformat()}
                for i in queue.items(session, args.status)]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['event_id']}\t{r['status']}\t{r['size']}\t{r['cid'] or '-'}\t{r['reason']}")
    return 0


def _retry(args: argparse.Namespace) -> int:
    from agents.edge.archive import queue
    from agents.edge.archive.service import open_queue

    sessions = open_queue(load_settings(EdgeSettings, args.config))
    with sessions.begin() as session:
        if not queue.retry(session, args.event_id):
            raise GuardianError(f"{args.event_id}: not in the archive queue as over_quota or failed")
    print(f"{args.event_id}: queued again")
    return 0


def add_archive_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    archive = sub.add_parser("archive", help="the encrypted off-site archive")
    actions = archive.add_subparsers(metavar="ACTION")
    for name, handler, help_text in (
        ("set-secret", _set_secret, "set the archive secret (read from the terminal or stdin, never argv)"),
        ("run", _run, "run the archive uploader"),
    ):
        cmd = actions.add_parser(name, help=help_text)
        add_config_argument(cmd, DEFAULT_CONFIG, ENV)
        cmd.set_defaults(handler=handler)
    status = actions.add_parser("status", help="archive queue: one line per event")
    add_config_argument(status, DEFAULT_CONFIG, ENV)
    status.add_argument("--json", action="store_true", help="JSON output")
    status.add_argument("--status", choices=("queued", "uploading", "stored", "over_quota", "failed"))
    status.set_defaults(handler=_status)
    retry = actions.add_parser("retry", help="queue an over_quota or failed event again")
    add_config_argument(retry, DEFAULT_CONFIG, ENV)
    retry.add_argument("event_id")
    retry.set_defaults(handler=_retry)
