"""``guardian-edge``: the edge appliance's command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from agents.edge.config import DEFAULT_CONFIG, EdgeSettings
from guardian.runtime.cli import add_config_argument, add_config_commands, run_cli
from guardian.runtime.config import load_settings
from guardian.runtime.logging import configure_logging, get_logger
from guardian.runtime.service import run_agent


def _settings_with_logging(args: argparse.Namespace) -> EdgeSettings:
    """Load the config (a ConfigError ends the command with one line per problem), then start logging."""
    settings = load_settings(EdgeSettings, args.config)
    configure_logging(settings.log_level)
    for line in settings.deprecations():
        get_logger(__name__).warning("deprecated config key", detail=line)
    if getattr(args, "replaced_by", None):
        get_logger(__name__).warning("deprecated command", use=f"guardian-edge {args.replaced_by}")
    return settings


def _run_recorder(args: argparse.Namespace) -> int:
    settings = _settings_with_logging(args)
    from agents.edge.video.service import RecorderAgent

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
    # First boot takes the hostname from this line (firstboot/guardian-firstboot).
    print(f"enrolled: device {record.device_id}, tunnel address {record.tunnel_address}, "
          f"hostname {enrol.device_hostname(record.device_id)}")
    return 0


def _run_uplink(args: argparse.Namespace) -> int:
    settings = _settings_with_logging(args)
    from agents.edge.uplink.service import UplinkAgent

    return run_agent(UplinkAgent(settings))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guardian-edge", description="Guardian edge appliance")
    sub = parser.add_subparsers(metavar="COMMAND")
    add_config_commands(
        sub, default_path=DEFAULT_CONFIG, env_var="GUARDIAN_EDGE_CONFIG",
        load=lambda path: load_settings(EdgeSettings, path),
        summary=lambda settings: f"{len(settings.cameras)} camera(s)",
        # Camera URLs carry the cameras' credentials.
        hidden={"cameras": {"__all__": {"record_url", "detect_url"}}},
    )
    # One verb per long-running program: ``guardian-edge <program> run`` (``archive run`` is the archive's).
    for program, old, handler, help_text in (
        ("recorder", "run", _run_recorder, "the recording service (cameras, segments, retention)"),
        ("detector", "run-detector", _run_detector, "the detection service (motion, detector, tracking, events)"),
        ("uplink", "run-uplink", _run_uplink, "the uplink to the relay (tunnel, events, telemetry, media)"),
    ):
        group = sub.add_parser(program, help=help_text)
        cmd = group.add_subparsers(metavar="ACTION").add_parser("run", help=f"run {help_text.split(' (')[0]}")
        add_config_argument(cmd, DEFAULT_CONFIG, "GUARDIAN_EDGE_CONFIG")
        cmd.set_defaults(handler=handler)
        # The verbs of the previous release, kept (unlisted) for one release: deployed units call them.
        alias = sub.add_parser(old)
        add_config_argument(alias, DEFAULT_CONFIG, "GUARDIAN_EDGE_CONFIG")
        alias.set_defaults(handler=handler, replaced_by=f"{program} run")
    enrol = sub.add_parser("enrol", help="enrol with the relay (bootstrap token), re-enrol, or rotate the key")
    add_config_argument(enrol, DEFAULT_CONFIG, "GUARDIAN_EDGE_CONFIG")
    enrol.add_argument("--relay", help="relay enrolment endpoint, host:port or https:// URL")
    enrol.add_argument("--token-file", type=Path, help="file holding the single-use bootstrap token")
    enrol.add_argument("--new-key", action="store_true", help="re-enrol with a freshly generated key")
    enrol.add_argument("--rotate-key", action="store_true", help="replace the key through the tunnel")
    enrol.set_defaults(handler=_enrol)
    from agents.edge.detection.eval_command import add_eval_parser
    from agents.edge.models.cli import add_models_parser

    add_eval_parser(add_models_parser(sub))  # eval runs the detector: a floor above the models package
    from agents.edge.detection.hardware_command import add_hardware_parser

    add_hardware_parser(sub)
    from agents.edge.archive.cli import add_archive_parser

    add_archive_parser(sub)
    from agents.edge.uplink.metrics_cli import add_metrics_parser

    add_metrics_parser(sub)
    from agents.edge.uplink.update_source import add_update_source_parser

    add_update_source_parser(sub)
    from agents.edge.onvif.cli import add_cameras_parser

    add_cameras_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
