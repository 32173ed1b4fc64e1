"""systemd integration through sdnotify: READY, WATCHDOG and STOPPING, a no-op without NOTIFY_SOCKET.

The watchdog ping is tied to progress, not to a timer alone: loops call :meth:`Watchdog.progress` when
they do real work (a packet read, an event sent), and :meth:`Watchdog.run` pings systemd at half of
``WATCHDOG_USEC`` only while progress keeps arriving. A wedged loop therefore gets the service restarted.
"""

from __future__ import annotations

import asyncio
import os
import time

import sdnotify

from guardian.runtime.logging import get_logger

log = get_logger("guardian.systemd")


class Notifier:
    """Sends sd_notify messages; every method does nothing when ``NOTIFY_SOCKET`` is unset."""

    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._notifier = sdnotify.SystemdNotifier() if self.enabled else None

    def _send(self, message: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(message)

    def ready(self, status: str = "") -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, status: str) -> None:
        self._send(f"STATUS={status}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")


def watchdog_interval() -> float | None:
    """Half the watchdog timeout systemd set for this process, in seconds, or ``None`` when unset."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000 / 2
    except ValueError:
        return None


class Watchdog:
    """Pings systemd's watchdog while the program shows progress."""

    def __init__(self, notifier: Notifier, interval: float | None = None, stale_after: float | None = None):
        self.notifier = notifier
        self.interval = interval if interval is not None else watchdog_interval()
        # Progress older than this stops the pings; by default two ping intervals.
        self.stale_after = stale_after or (self.interval * 2 if self.interval else None)
        self._last_progress = time.monotonic()

    def progress(self) -> None:
        self._last_progress = time.monotonic()

    @property
    def stalled_for(self) -> float:
        return time.monotonic() - self._last_progress

    async def run(self) -> None:
        if not self.interval:
            return
        while True:
            if self.stale_after is None or self.stalled_for <= self.stale_after:
                self.notifier.watchdog()
            else:
                log.warning("watchdog_withheld", stalled_seconds=round(self.stalled_for, 1))
            await asyncio.sleep(self.interval)
