"""The User-Agent a relay sends with its calls to the cloud, ``guardian-relay/<version>``: the cloud keeps
the version for the operator's fleet page. One place for the format both sides read."""

from __future__ import annotations

import re
from importlib import metadata

RELAY_PRODUCT = "guardian-relay"
DISTRIBUTION = "private-ai-guardian"
# A version as packaging writes it (PEP 440 and local labels), bounded: it is stored as is.
_RELAY = re.compile(rf"{RELAY_PRODUCT}/([0-9A-Za-z][0-9A-Za-z.+!_-]{{0,49}})")


def installed_version() -> str:
    """This program's version, from the installed distribution's metadata."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def relay_user_agent(version: str | None = None) -> str:
    return f"{RELAY_PRODUCT}/{version or installed_version()}"


def relay_version_of(user_agent: str) -> str:
    """The version a relay's User-Agent names; "" for any other client (a relay of an older release)."""
    match = _RELAY.fullmatch(user_agent.strip())
    return match.group(1) if match else ""
