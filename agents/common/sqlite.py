"""SQLite as the appliance agents use it: WAL, durable commits, and write transactions that take the
write lock up front.

SQLAlchemy, not the sqlite3 module, begins transactions (the module would only issue BEGIN before the
first INSERT/UPDATE/DELETE, so the reads of a read-modify-write ran outside the transaction). An
explicit ``session.begin()`` / ``sessions.begin()`` is a write transaction and starts with
``BEGIN IMMEDIATE``: it takes the write lock at once, waiting up to ``busy_timeout`` for it. A deferred
transaction that reads and then writes fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT,
no waiting) when another writer committed in between. Sessions used without ``begin()`` are readers:
plain ``BEGIN``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

# Connection execution option: begin with BEGIN IMMEDIATE (a write transaction).
IMMEDIATE = "guardian_begin_immediate"
BUSY_TIMEOUT_MS = 10_000
_WAL_RETRY_S = 0.05


class WriterSession(Session):
    """A session whose explicit transactions are write transactions (``BEGIN IMMEDIATE``)."""

    def begin(self, nested: bool = False) -> SessionTransaction:
        transaction = super().begin(nested=nested)
        if not nested:
            # Procure the connection now, so the transaction starts with the write lock.
            self.connection(execution_options={IMMEDIATE: True})
        return transaction


def _begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the database to WAL, retrying while another program holds a lock on it.

    A fresh file stays in rollback mode until its first page is written, and while another connection
    holds the write lock SQLite refuses the switch at once (its busy handler would risk a deadlock there),
    so agents starting together on a new box could fail with "database is locked" here."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(_WAL_RETRY_S)


def open_sqlite(
    path: Path, create_schema: Callable[[Connection], None], *, foreign_keys: bool = False
) -> tuple[Engine, sessionmaker[WriterSession]]:
    """Open (and create if needed) the database at ``path``; ``create_schema`` runs in one write
    transaction, so of several programs opening a fresh file together one creates the tables and the
    others wait for it and find everything in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", future=True)

    def on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # transaction control is SQLAlchemy's (see _begin)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        # FULL: a commit survives a power cut too (an acknowledged event must never be lost).
        cursor.execute("PRAGMA synchronous=FULL")
        if foreign_keys:
            cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", _begin)
    with engine.connect() as connection:
        connection.execution_options(**{IMMEDIATE: True})
        with connection.begin():
            create_schema(connection)
    return engine, sessionmaker(engine, class_=WriterSession, expire_on_commit=False)
