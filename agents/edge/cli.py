"""``guardian-edge``: the edge appliance's command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from agents.edge.config import DEFAULT_CONFIG, EdgeSettings
from guardian.runtime.cli import add_config_argument, run_cli
from guardian.runtime.config import load_settings
from guardian.runtime.logging import configure_logging
from guardian.runtime.service import run_agent


def _settings_with_logging(args: argparse.Namespace) -> EdgeSettings:
    """Load the config (a ConfigError ends the command with one line per problem), then start logging."""
    settings = load_settings(EdgeSettings, args.config)
    configure_logging(settings.log_level)
    return settings


def _check_config(args: argparse.Namespace) -> int:
    settings = load_settings(EdgeSettings, args.config)
    print(f"{args.config}: ok ({len(settings.cameras)} camera(s))")
    return 0


def _show_config(args: argparse.Namespace) -> int:
    settings = load_settings(EdgeSettings, args.config)
    # Credentials in camera URLs are not printed.
    print(json.dumps(settings.model_dump(mode="json", exclude={"cameras": {"__all__": {"record_url", "detect_url"}}}), indent=2))
    return 0


def _run(args: argparse.Namespace) -> int:
    settings = _settings_with_logging(args)
    from agents.edge.recorder_service import RecorderAgent

    return run_agent(RecorderAgent(settings))


def _run_detector(args: argparse.Namespace) -> int:
    settings = _settings_with_logging(args)
    from agents.edge.detection.service import DetectorAgent

    return run_agent(DetectorAgent(settings))


def _enrol(args: argparse.Namespace) -> int:
    settings = _settings_with_logging(args)
    from agents.edge.uplink import enrol

    if args.rotate_key:
        record = enrol.rotate_key(settings)
    else:
        if not args.relay or not args.token_file:
            print("guardian-edge enrol: --relay and --token-file are required (or --rotate-key)", file=sys.stderr)
            return 2
        token = args.token_file.read_text()
        record = enrol.enrol(settings, args.relay, token, new_key=args.new_key)
    print(f"enrolled: device {record.device_id}, tunnel address {record.tunnel_address}")
    return 0


def _run_uplink(args: argparse.Namespace) -> int:
    settings = _settings_with_logging(args)
    from agents.edge.uplink.service import UplinkAgent

    return run_agent(UplinkAgent(settings))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guardian-edge", description="Guardian edge appliance")
    sub = parser.add_subparsers(metavar="COMMAND")
    for name, handler, help_text in (
        ("check-config", _check_config, "validate the config file and exit"),
        ("show-config", _show_config, "print the effective config (without credentials)"),
        ("run", _run, "run the recording service (cameras, segments, retention)"),
        ("run-uplink", _run_uplink, "run the uplink to the relay (tunnel, events, telemetry, media)"),
        ("run-detector", _run_detector, "run the detection service (motion, detector, tracking, events)"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        add_config_argument(cmd, DEFAULT_CONFIG, "GUARDIAN_EDGE_CONFIG")
        cmd.set_defaults(handler=handler)
    enrol = sub.add_parser("enrol", help="enrol with the relay (bootstrap token), re-enrol, or rotate the key")
    add_config_argument(enrol, DEFAULT_CONFIG, "GUARDIAN_EDGE_CONFIG")
    enrol.add_argument("--relay", help="relay enrolment endpoint, host:port or https:// URL")
    enrol.add_argument("--token-file", type=Path, help="file holding the single-use bootstrap token")
    enrol.add_argument("--new-key", action="store_true", help="re-enrol with a freshly generated key")
    enrol.add_argument("--rotate-key", action="store_true", help="replace the key through the tunnel")
    enrol.set_defaults(handler=_enrol)
    from agents.edge.models.cli import add_models_parser

    add_models_parser(sub)
    from agents.edge.archive.cli import add_archive_parser

    add_archive_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
