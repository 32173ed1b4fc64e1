"""Live event notifications for Server-Sent Events, across API replicas.

Ingestion announces new event ids per tenant inside its transaction; every replica's SSE streams for
that tenant hear about them once the transaction commits:

- PostgreSQL: ``pg_notify('guardian_events', …)`` in the ingest transaction (delivered only on commit)
  and one ``LISTEN`` connection per process (psycopg async) that fans out to local subscribers;
- SQLite (one process): an in-process fan-out triggered after commit.

The bus only carries the ids; its listener (the process's :class:`cloud.core.live.LiveHub`) fetches and
encodes them once for all the tenant's streams.
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
_IDS_PER_NOTIFY = 100  # keeps each payload well under PostgreSQL's 8000-byte limit


class EventBus:
    """Hands (tenant_id, event ids) to the process's listener, in commit order; subclasses add the transport."""

    def __init__(self) -> None:
        self._listener: Callable[[str, list[str]], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self._loop = None

    def listen(self, listener: Callable[[str, list[str]], None] | None) -> None:
        """``listener`` (called in the event loop) hears every announcement from now on; None: nobody."""
        self._listener = listener

    def _deliver(self, tenant_id: str, ids: list[str]) -> None:
        if self._listener is not None:
            self._listener(tenant_id, ids)

    def announce(self, session: Session, tenant_id: str, ids: list[str]) -> None:
        """Call inside the ingest transaction; subscribers hear of ``ids`` after it commits."""
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

    async def _listen(self) -> None:
        import psycopg

        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 0.5
                    async for note in conn.notifies():
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
