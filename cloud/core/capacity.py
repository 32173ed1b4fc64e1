"""Admission to the database: how many requests of a kind may use a pooled connection at once.

A request waits for its turn here, in the event loop, before it takes a session: it holds neither a worker
thread nor a connection while it waits. Each gate admits at most as many requests as its pool has
connections (the pool has no overflow), so an admitted request never waits for a connection and never holds
a thread while it waits; no mix of requests can deadlock threads against connections. A request that cannot
get a turn within ``http.queue_seconds`` is answered 503 with ``Retry-After``.

Two gates, two pools: ``api`` (browsers, tools) and ``service`` (relay calls, live-event fan-out, retention),
so browser load can slow the console but never stops events reaching the cloud.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from cloud.core.errors import ApiError
from guardian.runtime.logging import get_logger

log = get_logger("cloud.capacity")

RETRY_AFTER_SECONDS = 1


class Busy(ApiError):
    status = 503
    code = "busy"

    def __init__(self, message: str = "the service is busy; retry shortly") -> None:
        super().__init__(message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class Gate:
    """At most ``capacity`` holders at once; the others wait up to ``wait_seconds`` (then :class:`Busy`).

    ``async with gate:`` — one turn. The semaphore belongs to the event loop that first waits on it; an app
    served again by another loop (tests, a restarted server) gets a fresh one.
    """

    def __init__(self, name: str, capacity: int, wait_seconds: float,
                 on_busy: Callable[[str], None] = lambda _name: None) -> None:
        self.name, self.capacity, self.wait_seconds = name, capacity, wait_seconds
        self._on_busy = on_busy
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore = asyncio.Semaphore(capacity)
        self.waiting = 0
        self.in_use = 0

    def _current(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._semaphore = loop, asyncio.Semaphore(self.capacity)
        return self._semaphore

    async def __aenter__(self) -> None:
        semaphore = self._current()
        if semaphore.locked():
            self.waiting += 1
            try:
                async with asyncio.timeout(self.wait_seconds):
                    await semaphore.acquire()
            except TimeoutError:
                log.warning("database_busy", gate=self.name, capacity=self.capacity, waiting=self.waiting)
                self._on_busy(self.name)
                raise Busy() from None
            finally:
                self.waiting -= 1
        else:
            await semaphore.acquire()  # a free turn: no timer
        self.in_use += 1

    async def __aexit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.in_use -= 1
        self._semaphore.release()


class Gates:
    def __init__(self, api_capacity: int, service_capacity: int, wait_seconds: float,
                 on_busy: Callable[[str], None] = lambda _name: None) -> None:
        self.api = Gate("api", api_capacity, wait_seconds, on_busy)
        self.service = Gate("service", service_capacity, wait_seconds, on_busy)

    @property
    def capacity(self) -> int:
        return self.api.capacity + self.service.capacity
