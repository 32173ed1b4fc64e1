"""Live event notifications for Server-Sent Events, across API replicas.

Ingestion announces new event ids per tenant inside its transaction; every replica's SSE streams for
that tenant hear about them once the transaction commits:

- PostgreSQL: ``pg_notify('guardian_events', …)`` in the ingest transaction (delivered only on commit)
  and one ``LISTEN`` connection per process (psycopg async) that fans out to local subscribers;
- SQLite (one process): an in-process fan-out triggered after commit.

The bus only carries the ids; its listener (the process's :class:`cloud.core.live.LiveHub`) fetches and
encodes them once for all the tenant's streams.

It also carries "a desired config of tenant T was saved" (:meth:`EventBus.announce_config`, channel
``guardian_configs``) to the relays' long polls waiting in every process (:mod:`cloud.core.config_waits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.orm import Session

from guardian.runtime.logging import get_logger

log = get_logger("cloud.bus")

CHANNEL = "guardian_events"
CONFIG_CHANNEL = "guardian_configs"
_IDS_PER_NOTIFY = 100  # keeps each payload well under PostgreSQL's 8000-byte limit


class EventBus:
    """Hands (tenant_id, event ids) to the process's listener, in commit order; subclasses add the transport."""

    def __init__(self) -> None:
        self._listener: Callable[[str, list[str]], None] | None = None
        self._others: list[Callable[[str, list[str]], None]] = []
        self._config_listener: Callable[[str | None], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self._loop = None

    def listen(self, listener: Callable[[str, list[str]], None] | None) -> None:
        """``listener`` (called in the event loop) hears every announcement from now on; None: nobody."""
        self._listener = listener

    def listen_configs(self, listener: Callable[[str | None], None] | None) -> None:
        """``listener`` (called in the event loop) hears the tenant of every desired config saved from now on,
        or None when announcements may have been missed (the LISTEN connection was lost); None: nobody."""
        self._config_listener = listener

    def also_listen(self, listener: Callable[[str, list[str]], None]) -> Callable[[], None]:
        """Another listener beside :meth:`listen`'s (push notifications); returns how to stop it."""
        self._others.append(listener)
        return lambda: self._others.remove(listener)

    def _deliver(self, tenant_id: str, ids: list[str]) -> None:
        if self._listener is not None:
            self._listener(tenant_id, ids)
        for other in list(self._others):
            other(tenant_id, ids)

    def _deliver_config(self, tenant_id: str | None) -> None:
        if self._config_listener is not None:
            self._config_listener(tenant_id)

    def announce(self, session: Session, tenant_id: str, ids: list[str]) -> None:
        """Call inside the ingest transaction; subscribers hear of ``ids`` after it commits."""
        raise NotImplementedError

    def announce_config(self, session: Session, tenant_id: str) -> None:
        """Call inside the transaction that saves a desired config of ``tenant_id``; heard after it commits."""
        raise NotImplementedError


class LocalEventBus(EventBus):
    """One process (SQLite): deliver after the session commits."""

    def announce(self, session: Session, tenant_id: str, ids: list[str]) -> None:
        if not ids:
            return
        loop = self._loop

        def _after_commit(_session: Session) -> None:
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._deliver, tenant_id, list(ids))

        sa_event.listen(session, "after_commit", _after_commit, once=True)

    def announce_config(self, session: Session, tenant_id: str) -> None:
        loop = self._loop

        def _after_commit(_session: Session) -> None:
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._deliver_config, tenant_id)

        sa_event.listen(session, "after_commit", _after_commit, once=True)


class PostgresEventBus(EventBus):
    """Several replicas: NOTIFY in the transaction, one LISTEN connection per process."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    async def start(self) -> None:
        await super().start()
        self._task = asyncio.create_task(self._listen(), name="pg-listen")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.listening.clear()  # until a restart's LISTEN is in place again
        await super().close()

    def announce(self, session: Session, tenant_id: str, ids: list[str]) -> None:
        for start in range(0, len(ids), _IDS_PER_NOTIFY):
            payload = json.dumps({"t": tenant_id, "e": ids[start : start + _IDS_PER_NOTIFY]})
            session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})

    def announce_config(self, session: Session, tenant_id: str) -> None:
        session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CONFIG_CHANNEL, "payload": tenant_id})

    async def _listen(self) -> None:
        import psycopg

        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await conn.execute(f"LISTEN {CONFIG_CHANNEL}")
                    self.listening.set()
                    self._deliver_config(None)  # what was saved while no LISTEN was in place went unheard
                    delay = 0.5
                    async for note in conn.notifies():
                        if note.channel == CONFIG_CHANNEL:
                            self._deliver_config(note.payload)
                            continue
                        try:
                            data = json.loads(note.payload)
                            self._deliver(str(data["t"]), [str(i) for i in data["e"]])
                        except (ValueError, KeyError, TypeError):
                            log.warning("bad_notify_payload")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                log.warning("listen_connection_lost", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)


def make_bus(url: str) -> EventBus:
    return PostgresEventBus(url) if url.startswith("postgresql") else LocalEventBus()
