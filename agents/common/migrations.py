"""Schema upgrades of the appliance databases (edge, relay) through Alembic, run by the program itself.

No alembic.ini: the scripts ship inside the package (``<program>/db/migrations``) and the connection is
the caller's, already in its write transaction (``BEGIN IMMEDIATE``, :mod:`agents.common.sqlite`), so of
several services opening a database together one upgrades it and the others wait and find it done.
SQLite alters tables in batch mode (copy and swap), hence ``render_as_batch``.

A new migration (after changing a ``tables.py``)::

    python -m agents.common.migrations agents/edge/db/migrations "add cameras.zone"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, MetaData, create_engine

if TYPE_CHECKING:
    from alembic.config import Config


def _config(script_location: Path, connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, script_location: Path) -> None:
    """Upgrade the database on ``connection`` to the newest revision, inside the caller's transaction.

    A database from before Alembic has no ``alembic_version``: Alembic starts it at the first revision,
    which keeps the tables it finds (see each baseline) and records itself, then the rest follow."""
    from alembic import command

    command.upgrade(_config(script_location, connection), "head")


def run_environment(metadata: MetaData) -> None:
    """The body of each ``env.py``: migrate on the connection the caller handed over."""
    from alembic import context

    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def differences(connection: Connection, metadata: MetaData) -> list[Any]:
    """What Alembic's autogenerate finds between the database's schema and ``metadata`` (empty: none)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def head_revision(script_location: Path) -> str | None:
    """The newest revision of the migrations at ``script_location`` (what ``upgrade`` brings a database to)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(script_location))
    return ScriptDirectory.from_config(config).get_current_head()


def new_revision(script_location: Path, message: str) -> None:
    """Write the next migration: autogenerate against a scratch database at the current head."""
    from alembic import command

    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/scratch.db")
        with engine.begin() as connection:
            config = _config(script_location, connection)
            command.upgrade(config, "head")
            command.revision(config, message=message, autogenerate=True)
        engine.dispose()


if __name__ == "__main__":
    new_revision(Path(sys.argv[1]), sys.argv[2])
