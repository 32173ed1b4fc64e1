"""Helpers for the per-role command lines (``guardian-edge``, ``guardian-relay``, ``guardian-cloud``).

Expected failures (bad config, bad input) end with one clear line per problem on stderr and a
sysexits code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from guardian.runtime.config import AgentSettings
from guardian.runtime.errors import EX_SOFTWARE, GuardianError
from guardian.runtime.logging import configure_logging, get_logger

Handler = Callable[[argparse.Namespace], int]
SettingsT = TypeVar("SettingsT", bound=AgentSettings)


def add_config_argument(parser: argparse.ArgumentParser, default_path: str, env_var: str) -> None:
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=Path(os.environ.get(env_var, default_path)),
        help=f"TOML config file (default: ${env_var} or {default_path})",
    )


def start_logging(settings: AgentSettings, level: str) -> None:
    """Configure logging for a long-running command and log the deprecated settings it was given."""
    configure_logging(level)
    for line in settings.deprecations():
        get_logger(__name__).warning("deprecated config key", detail=line)


def add_config_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    default_path: str,
    env_var: str,
    load: Callable[[Path], SettingsT],
    summary: Callable[[SettingsT], str],
    hidden: Any = None,
) -> None:
    """``check-config`` and ``show-config``, alike for every program.

    ``load`` reads the settings from the ``--config`` path (a ConfigError ends the command with one line
    per bad key, exit 78); ``summary`` is what check-config says after ``ok``; ``hidden`` is a pydantic
    ``exclude`` for values show-config must not print besides the secrets, which it masks anyway.
    """

    def check(args: argparse.Namespace) -> int:
        settings = load(args.config)
        # The cloud may run on the environment and credentials alone, without a file.
        source = args.config if args.config.exists() else "(environment)"
        for line in settings.deprecations():
            print(f"{source}: warning: {line}")
        print(f"{source}: ok ({summary(settings)})")
        return 0

    def show(args: argparse.Namespace) -> int:
        settings = load(args.config)
        print(json.dumps(settings.model_dump(mode="json", exclude=hidden), indent=2))
        return 0

    for name, handler, help_text in (
        ("check-config", check, "validate the config file and exit"),
        ("show-config", show, "print the effective config (without secrets)"),
    ):
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        add_config_argument(cmd, default_path, env_var)
        cmd.set_defaults(handler=handler)


def run_cli(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and call the chosen sub-command's handler (set with ``set_defaults(handler=…)``)."""
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    prog = parser.prog
    try:
        return handler(args)
    except GuardianError as exc:
        for line in str(exc).splitlines():
            print(f"{prog}: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EX_SOFTWARE
