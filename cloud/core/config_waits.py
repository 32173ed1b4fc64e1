"""Relays' long polls for desired configs, in one process: each waits, in the event loop, until a config of
its tenant is saved (the bus, :meth:`cloud.core.bus.EventBus.listen_configs`), its time runs out, or the
server is stopping. A wait holds no database connection and no worker thread.

Race-free without a subscription: take a :meth:`ConfigWaits.mark` *before* reading what is newer than the
relay's cursor, and wait from that mark. A save committed before the read is in the read; one committed
after it is announced after the mark was taken, so the wait ends at once.
"""

from __future__ import annotations

import asyncio
import contextlib

from guardian.runtime.logging import get_logger

log = get_logger("cloud.config_waits")

Mark = tuple[int, int]  # (announcements that may have been missed, saves of the tenant) heard so far


class ConfigWaits:
    """Fed by the bus (:meth:`changed`, in the event loop); :meth:`stop` ends every wait for good."""

    def __init__(self) -> None:
        self._resyncs = 0
        self._saves: dict[str, int] = {}  # per tenant: saves heard of
        self._wakes: dict[str, asyncio.Event] = {}  # per tenant with waits: set at its next save
        self._waiting: dict[str, int] = {}
        self.stopping = False

    def mark(self, tenant_id: str) -> Mark:
        return self._resyncs, self._saves.get(tenant_id, 0)

    def changed(self, tenant_id: str | None) -> None:
        """A desired config of ``tenant_id`` was saved (committed); None: maybe any tenant's (missed)."""
        if tenant_id is None:
            self._resyncs += 1
            tenants = list(self._wakes)
        else:
            self._saves[tenant_id] = self._saves.get(tenant_id, 0) + 1
            tenants = [tenant_id]
        for tenant in tenants:
            wake = self._wakes.pop(tenant, None)
            if wake is not None:
                wake.set()

    def stop(self) -> None:
        """The server is stopping: end every wait now (the relays ask again, elsewhere) and any later one."""
        if not self.stopping:
            log.info("config_waits_ended", waiting=sum(self._waiting.values()))
        self.stopping = True
        for wake in self._wakes.values():
            wake.set()
        self._wakes.clear()

    def waiting(self, tenant_id: str) -> int:
        """How many long polls of ``tenant_id`` wait here."""
        return self._waiting.get(tenant_id, 0)

    async def wait(self, tenant_id: str, mark: Mark, timeout: float) -> bool:
        """Until a config of ``tenant_id`` saved after ``mark`` (True), ``timeout`` seconds, or the server
        stopping (False)."""
        if self.stopping:
            return False
        if self.mark(tenant_id) != mark:
            return True
        wake = self._wakes.setdefault(tenant_id, asyncio.Event())
        self._waiting[tenant_id] = self._waiting.get(tenant_id, 0) + 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await wake.wait()
        finally:
            self._waiting[tenant_id] -= 1
            if not self._waiting[tenant_id]:
                del self._waiting[tenant_id]
                if self._wakes.get(tenant_id) is wake:
                    del self._wakes[tenant_id]  # nobody waits: the next wait makes a fresh one
        return not self.stopping and self.mark(tenant_id) != mark
