"""The edge database's schema is made and upgraded by its Alembic migrations, from today's release too."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agents.common.migrations import differences, head_revision
from agents.edge.db import MIGRATIONS, open_database
from agents.edge.db.tables import ArchiveItem, Camera, Clip, EdgeBase, EventRow, OutboxItem, Segment
from tests.conftest import ROOT
from tests.sqlite_contents import sql_dump, table_rows

FIXTURE = Path(__file__).parent / "fixtures" / "edge-7d33ee2.sql"
TABLES = ("cameras", "video_segments", "video_clips", "events", "outbox", "archive_queue")
EVENT = "2b0e6d55-2f5c-4d3e-9a53-2f4be0d5a8e1"


def head() -> str:
    revision = head_revision(MIGRATIONS)
    assert revision is not None
    return revision


def rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    return table_rows(path, TABLES)


def old_release(path: Path, variant: str) -> None:
    """A database as the release at 7d33ee2 left it (``variant``: which services had run before)."""
    script = FIXTURE.read_text()
    if variant == "outbox-before-unique-index":
        # An older outbox: a plain key index, and one event inserted twice by two processes.
        script = script.replace(
            'CREATE UNIQUE INDEX ux_outbox_event_key ON outbox ("key") WHERE kind = 0;',
            'CREATE INDEX ix_outbox_key ON outbox ("key");',
        )
        script += (
            "INSERT INTO outbox (kind, key, payload, created_at, attempts, generation) VALUES "
            f"(0, '{EVENT}', X'6e6577', '2026-11-30 10:00:25.000000', 0, 0);"
        )
    with closing(sqlite3.connect(path)) as db:
        db.executescript(script)
        if variant == "archive-never-ran":
            db.execute("DROP TABLE archive_queue")  # created by the archive service only


@pytest.mark.parametrize("variant", ["all-services-ran", "archive-never-ran", "outbox-before-unique-index"])
def test_a_database_from_the_release_before_alembic_upgrades_with_nothing_lost(tmp_path: Path, variant: str) -> None:
    path = tmp_path / "edge.db"
    old_release(path, variant)
    before = rows(path) if variant != "archive-never-ran" else None

    _engine, sessions = open_database(path)

    # Columns added by later revisions (0002: the cameras' desired-config columns) come after the old ones,
    # with their defaults; the old columns must hold what they held.
    after = {t: [r[: len(before[t][0])] for r in rs] if before and before[t] else rs for t, rs in rows(path).items()}
    new_columns = table_rows(path, ["cameras"])["cameras"][0][-8:]
    assert new_columns == ("file", None, None, None, "", None, None, None)
    if variant == "outbox-before-unique-index":
        assert before is not None
        # The older row of the doubled event goes; the newest (row 4, the latest state) stays.
        assert [r[0] for r in after["outbox"]] == [2, 3, 4]
        assert after["outbox"][-1][3] == b"new"
        before["outbox"] = [r for r in before["outbox"] if r[0] != 1]
    if variant == "archive-never-ran":
        assert after["archive_queue"] == []
        assert {t: len(r) for t, r in after.items()} == {
            "cameras": 2, "video_segments": 2, "video_clips": 1, "events": 2, "outbox": 3, "archive_queue": 0,
        }
    else:
        assert after == before
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]
    # The rows read back through today's tables.
    with sessions() as session:
        counts = {c.__tablename__: session.scalar(select(func.count()).select_from(c))
                  for c in (Camera, Segment, Clip, EventRow, OutboxItem, ArchiveItem)}
        assert counts == {t: len(r) for t, r in after.items()}
        event = session.get(EventRow, EVENT)
        assert event is not None and event.track == [[1796032801.0, 0.1, 0.2, 0.3, 0.6, 0.91]]
        front = session.get(Camera, "front")
        assert front is not None and front.effective_detect_url.endswith("/sub")

    upgraded = sql_dump(path)
    open_database(path)
    assert sql_dump(path) == upgraded  # opening again changes nothing


def test_the_migrated_schema_is_the_one_the_tables_declare(tmp_path: Path) -> None:
    """A change to agents/edge/db/tables.py without a migration fails here."""
    fresh, _ = open_database(tmp_path / "fresh.db")
    old_release(tmp_path / "old.db", "outbox-before-unique-index")
    upgraded, _ = open_database(tmp_path / "old.db")
    for engine in (fresh, upgraded):
        with engine.connect() as connection:
            assert differences(connection, EdgeBase.metadata) == []


WAIT_AND_OPEN = """
import sys, time
from pathlib import Path
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
from agents.edge.db import open_database
open_database(Path(sys.argv[1]))
"""


def test_services_opening_a_fresh_database_together_all_succeed(tmp_path: Path) -> None:
    path, go = tmp_path / "edge.db", tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", WAIT_AND_OPEN, str(path), str(go)], cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    go.touch()
    results = [(p.wait(timeout=120), p.stderr.read().decode() if p.stderr else "") for p in procs]
    assert [code for code, _err in results] == [0] * 6, results
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]
    engine, _ = open_database(path)
    with engine.connect() as connection:
        assert differences(connection, EdgeBase.metadata) == []
