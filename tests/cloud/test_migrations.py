"""Alembic on PostgreSQL: upgrade from empty, downgrade to empty, upgrade again; models match."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from cloud.core.db import Base, downgrade, make_engine, migrate


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_on_postgresql(pg_server) -> None:
    url = pg_server.create_db("migrations_check")
    try:
        assert _tables(url) == set()
        migrate(url)
        assert _tables(url) == set(Base.metadata.tables)
        downgrade(url, "base")
        assert _tables(url) == set()
        migrate(url)
        assert _tables(url) == set(Base.metadata.tables)
        # The migrated schema is exactly what the models declare (nothing forgotten in a migration).
        engine = make_engine(url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        engine.dispose()
        assert diff == []
    finally:
        pg_server.drop_db("migrations_check")


def test_upgrade_downgrade_on_sqlite(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate(url)
    downgrade(url, "base")
    assert _tables(url) == set()
    migrate(url)
    assert _tables(url) == set(Base.metadata.tables)
