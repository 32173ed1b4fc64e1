"""``guardian-edge``: the edge appliance's command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from agents.edge.config import DEFAULT_CONFIG, EdgeSettings
from guardian.runtime.cli import add_config_argument, run_cli
from guardian.runtime.config import load_settings
from guardian.runtime.logging import configure_logging
from guardian.runtime.service import run_agent


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
    settings = load_settings(EdgeSettings, args.config)
    configure_logging(settings.log_level)
    from agents.edge.recorder_service import RecorderAgent

    return run_agent(RecorderAgent(settings))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guardian-edge", description="Guardian edge appliance")
    sub = parser.add_subparsers(metavar="COMMAND")
    for name, handler, help_text in (
        ("check-config", _check_config, "validate the config file and exit"),
        ("show-config", _show_config, "print the effective config (without credentials)"),
        ("run", _run, "run the recording service (cameras, segments, retention)"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        add_config_argument(cmd, DEFAULT_CONFIG, "GUARDIAN_EDGE_CONFIG")
        cmd.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
