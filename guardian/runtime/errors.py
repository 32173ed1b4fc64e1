"""Exceptions shared by every Guardian program, and the exit codes systemd acts on."""

from __future__ import annotations

import os

# sysexits(3): systemd's RestartPreventExitStatus= can name EX_CONFIG so a bad config does not loop.
EX_OK = os.EX_OK
EX_USAGE = os.EX_USAGE
EX_SOFTWARE = os.EX_SOFTWARE
EX_UNAVAILABLE = os.EX_UNAVAILABLE
EX_CONFIG = os.EX_CONFIG


class GuardianError(Exception):
    """Base of every error a Guardian program raises on purpose."""

    exit_code: int = EX_SOFTWARE


class ConfigError(GuardianError):
    """The configuration cannot be used. ``problems`` holds one human-readable line per bad key."""

    exit_code = EX_CONFIG

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"config error: {source}: {p}" for p in problems))
