"""A file that says "the relay acknowledged a heartbeat of this uplink process": touched at every acknowledged
heartbeat, removed when the uplink starts. The image's boot assessment (``guardian-agents-healthy
--heartbeat``, docs/images.md "Boot counting") waits for it, so a new version is marked good only once its
edge has reached the relay through the tunnel, not merely started."""

from __future__ import annotations

from pathlib import Path

from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.uplink")


class HeartbeatStamp:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._failed = False
        # A stamp left by an earlier process (the directory outlives restarts) says nothing about this one.
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            self._fail(exc)

    def touch(self) -> None:
        try:
            self.path.touch()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        # Only the boot assessment reads it: events keep flowing, and the log says why the check will fail.
        if not self._failed:
            self._failed = True
            log.error("heartbeat_stamp_failed", path=str(self.path), error=exc.strerror or str(exc))
