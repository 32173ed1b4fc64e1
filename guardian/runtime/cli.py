"""Helpers for the per-role command lines (``guardian-edge``, ``guardian-relay``, ``guardian-cloud``).

Expected failures (bad config, bad input) end with one clear line per problem on stderr and a
sysexits code, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from guardian.runtime.errors import EX_SOFTWARE, GuardianError

Handler = Callable[[argparse.Namespace], int]


def add_config_argument(parser: argparse.ArgumentParser, default_path: str, env_var: str) -> None:
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=Path(os.environ.get(env_var, default_path)),
        help=f"TOML config file (default: ${env_var} or {default_path})",
    )


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
