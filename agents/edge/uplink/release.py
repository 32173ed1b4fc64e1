"""Whether the edge runs a release its last update was switched back from, as provisioning lays releases
out (provisioning/tasks/common.py, templates/guardian-activate.sh.j2): ``/opt/guardian/releases/<version>``,
``current`` the running one, ``previous`` the one before the last switch."""

from __future__ import annotations

import os
from pathlib import Path

RELEASE_BASE = Path("/opt/guardian")


def rolled_back(base: Path = RELEASE_BASE) -> bool:
    """True after a roll-back: guardian-activate switches to the new release (``previous`` then names the
    old one) and, when the health check fails, back to the old one, so ``current`` and ``previous`` name
    the same release; after a good update they differ."""
    try:
        return os.readlink(base / "current") == os.readlink(base / "previous")
    except OSError:  # releases not laid out by provisioning (an image, a development checkout)
        return False
