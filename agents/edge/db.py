"""The edge's SQLite database: one file, WAL mode, shared by the edge services.

Each service opens its own engine on the same file; WAL lets the recorder, the detector and the uplink
write without blocking each other's readers. Tables are declared on :class:`EdgeBase` by the modules
that own them (cameras, segments, events, outbox) and created by :func:`open_database`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, sessionmaker


class EdgeBase(DeclarativeBase):
    pass


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode; FULL adds power-loss durability of the
    # last commits, which the outbox needs.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_database(path: Path) -> tuple[Engine, sessionmaker]:
    """Open (and create if needed) the edge database at ``path``; returns the engine and a session factory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", future=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    # Import the table modules so every table is registered before create_all.
    import agents.edge.events.store  # noqa: F401
    import agents.edge.outbox  # noqa: F401

    # The services start together on a fresh box: another may create a table between create_all's
    # check and its CREATE. Checking again then finds it.
    for attempt in range(5):
        try:
            EdgeBase.metadata.create_all(engine)
            break
        except OperationalError as exc:
            if "already exists" not in str(exc) or attempt == 4:
                raise
    return engine, sessionmaker(engine, expire_on_commit=False)
