"""Read an SQLite file's contents for before/after comparisons (the appliance migration tests)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path


def table_rows(path: Path, tables: Iterable[str]) -> dict[str, list[tuple[object, ...]]]:
    """Every row of each of ``tables``, in insertion order."""
    with closing(sqlite3.connect(path)) as db:
        return {table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in tables}


def sql_dump(path: Path) -> list[str]:
    """The whole database as SQL statements (schema and rows)."""
    with closing(sqlite3.connect(path)) as db:
        return list(db.iterdump())
