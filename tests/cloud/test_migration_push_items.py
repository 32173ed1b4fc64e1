"""Migration 0013 on rows held before it: each claim gets its event's review item (or its event's id), where a
member had been notified of two events of one item the earliest claim stays, and rules keep notifying of every
event (PostgreSQL, SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cloud.core.db import make_engine, migrate

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    server = request.getfixturevalue("pg_server")
    url: str = server.create_db("migration_push_items")
    try:
        yield url
    finally:
        server.drop_db("migration_push_items")


def _filled(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` and a plain value for every other column the row needs (NOT NULL, no server default)."""
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        python_type = column.type.python_type
        row[column.name] = {bool: False, int: 0, datetime: T0, str: ""}[python_type]
    return row


def test_held_claims_get_their_item_and_one_per_item_stays(empty_url: str) -> None:
    migrate(empty_url, "0012")
    engine = make_engine(empty_url)
    try:
        tables = sa.MetaData()
        tables.reflect(engine)

        def insert(name: str, *rows: dict[str, Any]) -> None:
            conn.execute(tables.tables[name].insert(), [_filled(tables.tables[name], r) for r in rows])

        with engine.begin() as conn:
            insert("tenants", {"id": "t1", "name": "Home"})
            insert("users", {"id": "u1", "email": "a@example.org", "tenant_id": "t1"},
                   {"id": "u2", "email": "b@example.org", "tenant_id": "t1"})
            insert("notification_rules", {"user_id": "u1", "tenant_id": "t1", "enabled": True,
                                          "cameras_json": "[]", "labels_json": "[]", "zones_json": "[]",
                                          "time_zone": "UTC", "updated_at": T0})
            insert("events", *({"tenant_id": "t1", "id": f"e{n}", "review_item": item, "start_at": T0}
                                for n, item in ((1, "walk"), (2, "walk"), (3, ""))))
            insert("push_claims",
                   {"tenant_id": "t1", "event_id": "e1", "user_id": "u1", "claimed_at": T0 + timedelta(seconds=1)},
                   {"tenant_id": "t1", "event_id": "e2", "user_id": "u1", "claimed_at": T0},
                   {"tenant_id": "t1", "event_id": "e1", "user_id": "u2", "claimed_at": T0},
                   {"tenant_id": "t1", "event_id": "e3", "user_id": "u2", "claimed_at": T0})
    finally:
        engine.dispose()
    migrate(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            claims = conn.execute(sa.text("SELECT user_id, event_id, item_key FROM push_claims"
                                          " ORDER BY user_id, event_id")).all()
            severities = conn.execute(sa.text("SELECT severity FROM notification_rules")).scalars().all()
    finally:
        engine.dispose()
    assert [tuple(c) for c in claims] == [("u1", "e2", "walk"), ("u2", "e1", "walk"), ("u2", "e3", "e3")]
    assert severities == ["all"]  # the rules held before notify of every event, as they did
