"""The live streams' fan-out in one process: one fetch and one encoding per notification, shared by every
open stream of the tenant.

The bus (:mod:`cloud.core.bus`) announces (tenant, event ids); for each tenant one task at a time asks the
:class:`LiveSource` for the announced events, already encoded, and for which of that tenant's logins still
hold (one database turn for all the tenant's streams), then offers the messages to each stream's
:class:`Subscription`, which keeps those its camera/label filter wants. A periodic sweep checks every open
stream's login at once. A stream whose login has ended, or that falls more than ``limit`` messages behind
(the client does not read), is ended; the browser reconnects and resumes from its last message's cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from guardian.runtime.logging import get_logger

log = get_logger("cloud.live")

MAILBOX_LIMIT = 5000  # messages a stream may fall behind before it is ended (references to shared strings)
IDS_PER_FETCH = 1000  # announced ids fetched at once; also bounds what one fan-out offers a stream


@dataclass(frozen=True, slots=True)
class Login:
    """The login an open stream acts for, as its access token names it; checked again while it lasts."""

    user_id: str
    version: object  # the token's ``ver`` (the account's token version when it was issued)
    family: str | None  # the token's ``sid`` (its refresh family); None for a token minted without a login
    tenant_id: str


@dataclass(frozen=True, slots=True)
class LiveMessage:
    """One event as every stream of its tenant sends it: encoded once, filtered by camera and label."""

    camera: str
    label: str
    text: str


class LiveSource(Protocol):
    async def announced(self, tenant_id: str, ids: list[str], logins: set[Login]) -> tuple[list[LiveMessage], set[Login]]:
        """The announced events' messages (in order), and which of ``logins`` still hold, read together."""
        ...

    async def alive(self, logins: set[Login]) -> set[Login]:
        """Which of ``logins`` still hold."""
        ...


class Subscription:
    """One open stream's mailbox: what the fan-out offered it and it has not sent yet, or why it ended."""

    def __init__(self, tenant_id: str, login: Login, camera: str | None, label: str | None, limit: int) -> None:
        self.tenant_id, self.login = tenant_id, login
        self._camera, self._label, self._limit = camera, label, limit
        self._pending: deque[LiveMessage] = deque()
        self._wake = asyncio.Event()
        self.ended: str | None = None  # why the hub ended the stream: session_ended, lagging, unavailable

    def _offer(self, messages: list[LiveMessage]) -> bool:
        """Queue what this stream wants of ``messages``; False when that would put it too far behind."""
        wanted = [m for m in messages if (self._camera is None or m.camera == self._camera)
                  and (self._label is None or m.label == self._label)]
        if len(self._pending) + len(wanted) > self._limit:
            return False
        if wanted:
            self._pending.extend(wanted)
            self._wake.set()
        return True

    def _end(self, reason: str) -> None:
        self.ended = reason
        self._pending.clear()  # nothing more reaches an ended stream, not even what was already queued
        self._wake.set()

    async def next(self, timeout: float) -> list[LiveMessage]:
        """What is queued (waiting up to ``timeout`` seconds for something); empty on timeout or once ended."""
        if not self._pending and self.ended is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(timeout, 0.0))
        self._wake.clear()
        if self.ended is not None:
            return []
        taken = list(self._pending)
        self._pending.clear()
        return taken


class LiveHub:
    """Every open stream of this process, by tenant; fed by the bus through :meth:`notify`."""

    def __init__(self, source: LiveSource, check_every: float, limit: int = MAILBOX_LIMIT) -> None:
        self._source, self._check_every, self._limit = source, check_every, limit
        self._streams: dict[str, set[Subscription]] = {}
        self._announced: dict[str, list[str]] = {}  # per tenant: ids heard of and not fetched yet
        self._fan_outs: dict[str, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="live-sweep")

    async def close(self) -> None:
        for task in [*self._fan_outs.values(), *([self._sweeper] if self._sweeper else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._sweeper = None

    def end_all(self, reason: str) -> None:
        """End every open stream (the server is stopping: the browsers reconnect elsewhere and resume)."""
        for streams in list(self._streams.values()):
            for stream in list(streams):
                self._end(stream, reason)

    def streams(self, tenant_id: str) -> int:
        """How many streams of ``tenant_id`` are open here (the hub has not ended)."""
        return len(self._streams.get(tenant_id, ()))

    @contextlib.contextmanager
    def subscribe(self, tenant_id: str, login: Login, camera: str | None = None,
                  label: str | None = None) -> Iterator[Subscription]:
        subscription = Subscription(tenant_id, login, camera, label, self._limit)
        self._streams.setdefault(tenant_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            self._drop(subscription)

    def _drop(self, subscription: Subscription) -> None:
        streams = self._streams.get(subscription.tenant_id)
        if streams is not None:
            streams.discard(subscription)
            if not streams:
                del self._streams[subscription.tenant_id]

    def _end(self, subscription: Subscription, reason: str) -> None:
        subscription._end(reason)
        self._drop(subscription)

    def notify(self, tenant_id: str, ids: list[str]) -> None:
        """The bus heard of ``ids`` (committed); called in the event loop, in commit order."""
        if not ids or tenant_id not in self._streams:
            return  # nobody here watches this tenant
        self._announced.setdefault(tenant_id, []).extend(ids)
        if tenant_id not in self._fan_outs:
            self._fan_outs[tenant_id] = asyncio.create_task(self._fan_out(tenant_id), name=f"live-{tenant_id}")

    async def _fan_out(self, tenant_id: str) -> None:
        # One task per tenant at a time keeps the bus's (commit) order; what is announced while a fetch
        # runs is fetched together next, so a busy tenant costs fewer fetches, never more.
        try:
            while tenant_id in self._announced:
                waiting = list(dict.fromkeys(self._announced.pop(tenant_id)))
                ids, rest = waiting[:IDS_PER_FETCH], waiting[IDS_PER_FETCH:]
                if rest:
                    self._announced[tenant_id] = rest + self._announced.get(tenant_id, [])
                streams = self._streams.get(tenant_id)
                if not streams:
                    self._announced.pop(tenant_id, None)
                    return
                logins = {s.login for s in streams}
                try:
                    messages, alive = await self._source.announced(tenant_id, ids, logins)
                except Exception as exc:
                    # These streams would miss the events: end them; the browsers resume from their cursor.
                    log.warning("live_fetch_failed", tenant=tenant_id, error=type(exc).__name__)
                    for stream in list(self._streams.get(tenant_id, ())):
                        self._end(stream, "unavailable")
                    continue
                # A stream opened during the fetch gets the messages if its login was among those checked.
                for stream in list(self._streams.get(tenant_id, ())):
                    if stream.login not in alive:
                        if stream.login in logins:
                            self._end(stream, "session_ended")
                    elif not stream._offer(messages):
                        log.warning("live_stream_dropped", tenant=tenant_id, reason="lagging")
                        self._end(stream, "lagging")
        finally:
            del self._fan_outs[tenant_id]

    async def _sweep(self) -> None:
        # One check of every open stream's login per period, whatever the number of streams.
        while True:
            await asyncio.sleep(self._check_every)
            logins = {s.login for streams in self._streams.values() for s in streams}
            if not logins:
                continue
            reason = "session_ended"
            try:
                alive = await self._source.alive(logins)
            except Exception as exc:
                # Unchecked logins cannot be kept streaming; the browsers reconnect (and are checked then).
                log.warning("live_check_failed", logins=len(logins), error=type(exc).__name__)
                alive, reason = set(), "unavailable"
            for streams in list(self._streams.values()):
                for stream in list(streams):
                    if stream.login in logins and stream.login not in alive:
                        self._end(stream, reason)
