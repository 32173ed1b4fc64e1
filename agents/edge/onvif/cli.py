"""``guardian-edge cameras …``: find ONVIF cameras on the LAN and test a stream, printing JSON.

Passwords are never taken on the command line (other users see it in ``ps``): ``--password-file`` or
``$GUARDIAN_CAMERA_PASSWORD``. Output and logs carry URLs with credentials redacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from guardian.runtime.logging import configure_logging

PASSWORD_ENV = "GUARDIAN_CAMERA_PASSWORD"


def _password(args: argparse.Namespace) -> str | None:
    if args.password_file is not None:
        return Path(args.password_file).read_text().rstrip("\n")
    return os.environ.get(PASSWORD_ENV)


def _print(data: object) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _discover(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, stream=sys.stderr)  # stdout is the JSON answer
    from agents.edge.onvif.discovery import discover
    from agents.edge.onvif.types import to_json

    report = asyncio.run(discover(args.timeout, args.device_timeout, args.user, _password(args) if args.user else None))
    _print({"cameras": [to_json(c) for c in report.cameras],
            "search_s": round(report.search_s, 3), "describe_s": round(report.describe_s, 3)})
    return 0


def _with_credentials(url: str, user: str, password: str | None) -> str:
    parts = urlsplit(url)
    cred = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{cred}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")))


def _probe(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, stream=sys.stderr)
    from agents.edge.onvif.probe import probe
    from agents.edge.onvif.types import to_json

    url = _with_credentials(args.url, args.user, _password(args)) if args.user else args.url
    result = probe(url, args.timeout, args.transport)
    _print({"ok": result.ok, **to_json(result)})
    return 0 if result.ok else 1


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", help=f"camera user name (the password from --password-file or ${PASSWORD_ENV})")
    parser.add_argument("--password-file", type=Path, help="file holding the camera password")
    parser.add_argument("--log-level", default="WARNING", help="log level of the lines on stderr (default: %(default)s)")


def add_cameras_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cameras = sub.add_parser("cameras", help="find ONVIF cameras on the LAN, test a camera stream")
    actions = cameras.add_subparsers(metavar="ACTION")
    discover = actions.add_parser("discover", help="WS-Discovery search, then each camera's ONVIF profiles (JSON)")
    discover.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for answers (default: %(default)s)")
    discover.add_argument("--device-timeout", type=float, default=10.0,
                          help="seconds allowed to ask one camera its profiles (default: %(default)s)")
    _common(discover)
    discover.set_defaults(handler=_discover)
    probe = actions.add_parser("probe", help="open an RTSP URL as the recorder does: codec, size or the error (JSON)")
    probe.add_argument("url", help="rtsp://host[:port]/path (credentials better given with --user)")
    probe.add_argument("--timeout", type=float, default=5.0, help="seconds to connect and read (default: %(default)s)")
    probe.add_argument("--transport", choices=("tcp", "udp"), default="tcp", help="RTSP transport (default: tcp)")
    _common(probe)
    probe.set_defaults(handler=_probe)
