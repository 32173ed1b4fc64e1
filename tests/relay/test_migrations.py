"""The relay database's schema is made and upgraded by its Alembic migrations, from today's release too."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agents.common.migrations import differences, head_revision
from agents.relay.db import MIGRATIONS, open_database
from agents.relay.db.tables import (
    ArchiveObject,
    CachedEvent,
    Device,
    RelayBase,
    RevokedToken,
    TelemetrySample,
    UsedToken,
)
from tests.sqlite_contents import sql_dump, table_rows

FIXTURE = Path(__file__).parent / "fixtures" / "relay-7d33ee2.sql"
TABLES = ("devices", "used_tokens", "revoked_tokens", "events", "telemetry", "archive_objects")


def head() -> str:
    revision = head_revision(MIGRATIONS)
    assert revision is not None
    return revision


def rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    return table_rows(path, TABLES)


def old_release(path: Path, archive_ran: bool = True) -> None:
    """A relay database as the release at 7d33ee2 left it."""
    with closing(sqlite3.connect(path)) as db:
        db.executescript(FIXTURE.read_text())
        if not archive_ran:
            db.execute("DROP TABLE archive_objects")  # created by the archive server only


@pytest.mark.parametrize("archive_ran", [True, False])
def test_a_database_from_the_release_before_alembic_upgrades_with_nothing_lost(tmp_path: Path, archive_ran: bool) -> None:
    path = tmp_path / "relay.db"
    old_release(path, archive_ran)
    before = rows(path) if archive_ran else None

    _engine, sessions = open_database(path)

    after = rows(path)
    if archive_ran:
        assert after == before
    else:
        assert {t: len(r) for t, r in after.items()} == {
            "devices": 2, "used_tokens": 1, "revoked_tokens": 1, "events": 1, "telemetry": 1, "archive_objects": 0,
        }
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]
    with sessions() as session:
        counts = {c.__tablename__: session.scalar(select(func.count()).select_from(c))
                  for c in (Device, UsedToken, RevokedToken, CachedEvent, TelemetrySample, ArchiveObject)}
        assert counts == {t: len(r) for t, r in after.items()}
        device = session.get(Device, "dev-2")
        assert device is not None and device.revoked_at is not None and device.revoked_at.tzinfo is not None

    upgraded = sql_dump(path)
    open_database(path)
    assert sql_dump(path) == upgraded  # opening again changes nothing


def test_the_migrated_schema_is_the_one_the_tables_declare(tmp_path: Path) -> None:
    """A change to agents/relay/db/tables.py without a migration fails here."""
    fresh, _ = open_database(tmp_path / "fresh.db")
    old_release(tmp_path / "old.db")
    upgraded, _ = open_database(tmp_path / "old.db")
    for engine in (fresh, upgraded):
        with engine.connect() as connection:
            assert differences(connection, RelayBase.metadata) == []
