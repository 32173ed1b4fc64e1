"""Agents starting together on a new box: one holds the write lock on a database still in rollback mode
while another opens it. SQLite refuses the switch to WAL at once there (no busy handler), so the opener
must wait for the lock rather than crash (the uplink did, with exit code 70, in the demo)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from agents.common.sqlite import open_sqlite


def _create_schema(connection: Connection) -> None:
    connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS opened (id INTEGER PRIMARY KEY)")


def test_open_waits_for_a_writer_holding_a_rollback_mode_database(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE early (x INTEGER)")
    assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO early VALUES (1)")
    release = threading.Timer(0.5, lambda: writer.execute("COMMIT"))
    release.start()
    try:
        engine, sessions = open_sqlite(path, _create_schema)
    finally:
        release.join()
        writer.close()
    with sessions() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert session.execute(text("SELECT count(*) FROM early")).scalar_one() == 1
    engine.dispose()
