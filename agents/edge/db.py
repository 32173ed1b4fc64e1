"""The edge's SQLite database: one file, WAL mode, shared by the edge services.

Each service opens its own engine on the same file; WAL lets the recorder, the detector and the uplink
write without blocking each other's readers. Tables are declared on :class:`EdgeBase` by the modules
that own them (cameras, segments, events, outbox) and created by :func:`open_database`.

Transactions (:mod:`agents.common.sqlite`): ``session.begin()`` / ``sessions.begin()`` is a write
transaction and starts with ``BEGIN IMMEDIATE``, so a read-modify-write waits for the lock instead of
failing with "database is locked" when another process committed in between (e.g. the uplink deleting
acknowledged rows while the detector saves an event).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from agents.common.sqlite import WriterSession, open_sqlite


class EdgeBase(DeclarativeBase):
    pass


def open_database(path: Path) -> tuple[Engine, sessionmaker[WriterSession]]:
    """Open (and create if needed) the edge database at ``path``; returns the engine and a session factory.

    The services start together on a fresh box: the tables are created (and the schema upgraded) in one
    write transaction, so one service does it and the others wait for it."""
    # Import the table modules so every table is registered before create_all.
    import agents.edge.events.store  # noqa: F401
    from agents.edge import outbox

    def create_schema(connection: Connection) -> None:
        EdgeBase.metadata.create_all(connection)
        outbox.upgrade_schema(connection)

    return open_sqlite(path, create_schema, foreign_keys=True)
