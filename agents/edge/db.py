"""The edge's SQLite database: one file, WAL mode, shared by the edge services.

Each service opens its own engine on the same file; WAL lets the recorder, the detector and the uplink
write without blocking each other's readers. Tables are declared on :class:`EdgeBase` by the modules
that own them (cameras, segments, events, outbox) and created by :func:`open_database`.

Transactions: SQLAlchemy, not the sqlite3 module, begins them (the module would only issue BEGIN before
the first INSERT/UPDATE/DELETE, so the reads of a read-modify-write ran outside the transaction). An
explicit ``session.begin()`` / ``sessions.begin()`` is a write transaction and starts with
``BEGIN IMMEDIATE``: it takes the write lock up front, waiting up to ``busy_timeout`` for it. A deferred
transaction that reads and then writes fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT,
no waiting) when another process committed in between, e.g. the uplink deleting acknowledged rows
while the detector saves an event. Sessions used without ``begin()`` are readers: plain ``BEGIN``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, sessionmaker

# Connection execution option: begin with BEGIN IMMEDIATE (a write transaction).
IMMEDIATE = "edge_begin_immediate"


class EdgeBase(DeclarativeBase):
    pass


class EdgeSession(Session):
    """A session whose explicit transactions are write transactions (``BEGIN IMMEDIATE``)."""

    def begin(self, nested: bool = False) -> SessionTransaction:
        transaction = super().begin(nested=nested)
        if not nested:
            # Procure the connection now, so the transaction starts with the write lock.
            self.connection(execution_options={IMMEDIATE: True})
        return transaction


def _sqlite_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # Leave transaction control to SQLAlchemy (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode; FULL adds power-loss durability of the
    # last commits, which the outbox needs.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def open_database(path: Path) -> tuple[Engine, sessionmaker[EdgeSession]]:
    """Open (and create if needed) the edge database at ``path``; returns the engine and a session factory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", future=True)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    # Import the table modules so every table is registered before create_all.
    import agents.edge.events.store  # noqa: F401
    from agents.edge import outbox

    # The services start together on a fresh box: one write transaction each, so one creates the tables
    # and upgrades the schema, the others wait for it and then find everything in place.
    with engine.connect() as connection:
        connection.execution_options(**{IMMEDIATE: True})
        with connection.begin():
            EdgeBase.metadata.create_all(connection)
            outbox.upgrade_schema(connection)
    return engine, sessionmaker(engine, class_=EdgeSession, expire_on_commit=False)
