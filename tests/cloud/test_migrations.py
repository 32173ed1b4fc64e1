"""Alembic on PostgreSQL and SQLite: upgrade from empty, downgrade to empty, upgrade again; tables match."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from cloud.core.db import downgrade, make_engine, migrate
from cloud.tables import metadata


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _schema_diff(url: str) -> list[object]:
    """What autogenerate would add to a new migration: the migrated schema against cloud.tables."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_on_postgresql(pg_server) -> None:
    url = pg_server.create_db("migrations_check")
    try:
        assert _tables(url) == set()
        migrate(url)
        assert _tables(url) == set(metadata.tables)
        downgrade(url, "base")
        assert _tables(url) == set()
        migrate(url)
        assert _tables(url) == set(metadata.tables)
        assert _schema_diff(url) == []
    finally:
        pg_server.drop_db("migrations_check")


def test_upgrade_downgrade_on_sqlite(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate(url)
    downgrade(url, "base")
    assert _tables(url) == set()
    migrate(url)
    assert _tables(url) == set(metadata.tables)
    assert _schema_diff(url) == []
