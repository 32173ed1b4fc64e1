"""The edge's SQLite database: one file, WAL mode, shared by the edge services.

Each service opens its own engine on the same file (:func:`database_path`, the ``[storage] database``
setting); WAL lets the recorder, the detector and the uplink write without blocking each other's
readers. Every table is declared in :mod:`agents.edge.db.tables`; the schema is created and upgraded by
the Alembic migrations in ``migrations/`` when a service opens the file.

Transactions (:mod:`agents.common.sqlite`): ``session.begin()`` / ``sessions.begin()`` is a write
transaction and starts with ``BEGIN IMMEDIATE``, so a read-modify-write waits for the lock instead of
failing with "database is locked" when another process committed in between (e.g. the uplink deleting
acknowledged rows while the detector saves an event).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.orm import sessionmaker

from agents.common import migrations
from agents.common.sqlite import WriterSession, open_sqlite

if TYPE_CHECKING:
    from agents.edge.config import EdgeSettings

__all__ = ["MIGRATIONS", "database_path", "open_database"]

MIGRATIONS = Path(__file__).parent / "migrations"


def database_path(settings: EdgeSettings) -> Path:
    """The one edge database file every edge service opens (``[storage] database``)."""
    return settings.storage.database or settings.storage.data_dir / "edge.db"


def open_database(path: Path) -> tuple[Engine, sessionmaker[WriterSession]]:
    """Open (and create if needed) the edge database at ``path``; returns the engine and a session factory.

    The services start together on a fresh box: the schema is created or upgraded in one write
    transaction, so one service does it and the others wait for it."""

    def upgrade(connection: Connection) -> None:
        migrations.upgrade(connection, MIGRATIONS)

    return open_sqlite(path, upgrade, foreign_keys=True)
