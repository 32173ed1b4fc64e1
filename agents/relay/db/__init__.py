"""The relay's SQLite database (WAL, synchronous=FULL): device registry, used and revoked tokens, event
cache, archive objects. Every table is declared in :mod:`agents.relay.db.tables`; the schema is created
and upgraded by the Alembic migrations in ``migrations/`` when the relay or its CLI opens the file.

An acknowledgement to the edge is only sent after the commit that stored the item, and the edge deletes
its copy only then, so a relay crash or power cut never loses an acknowledged event.

Transactions (:mod:`agents.common.sqlite`, as on the edge): ``session.begin()`` / ``sessions.begin()`` is a
write transaction and starts with ``BEGIN IMMEDIATE``, so a read-modify-write (enrolment's token and
address checks, the uplink's batch store, revocation) waits for the lock instead of failing with
"database is locked" when another writer (another thread, or the ``guardian-relay`` CLI) committed in
between.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.orm import sessionmaker

from agents.common import migrations
from agents.common.sqlite import WriterSession, open_sqlite

__all__ = ["MIGRATIONS", "open_database"]

MIGRATIONS = Path(__file__).parent / "migrations"


def open_database(path: Path) -> tuple[Engine, sessionmaker[WriterSession]]:
    """Open (and create if needed) the relay database at ``path``; returns the engine and a session factory.

    The relay and the CLI may open the file together: the schema is created or upgraded in one write
    transaction, the other side waits for it."""

    def upgrade(connection: Connection) -> None:
        migrations.upgrade(connection, MIGRATIONS)

    return open_sqlite(path, upgrade)
