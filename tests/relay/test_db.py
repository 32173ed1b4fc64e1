"""The relay database's write transactions take SQLite's write lock up front (BEGIN IMMEDIATE)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from agents.relay.db import open_database
from agents.relay.db.tables import Device


def _other_writer(sessions, done: threading.Event, errors: list[SQLAlchemyError]) -> threading.Thread:
    def run() -> None:
        try:
            with sessions.begin() as session:
                session.get(Device, "dev-1").label = "other"
        except SQLAlchemyError as exc:  # reported to the test
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_read_modify_write_waits_for_the_lock_instead_of_failing(tmp_path: Path) -> None:
    engine, sessions = open_database(tmp_path / "relay.db")
    with sessions.begin() as session:
        session.add(Device(device_id="dev-1", tenant_id="t", public_key="k1", tunnel_address="10.77.0.2"))

    # What BEGIN IMMEDIATE prevents: a deferred transaction reads, another writer commits, then the
    # write fails at once with "database is locked" (the snapshot is stale; waiting cannot help).
    done, errors = threading.Event(), list[SQLAlchemyError]()
    with sessions() as session:  # no begin(): a reader's plain BEGIN
        device = session.get(Device, "dev-1")
        assert device is not None
        thread = _other_writer(sessions, done, errors)
        assert done.wait(30), "the other writer should not have to wait for a reader"
        device.label = "mine"
        with pytest.raises(OperationalError, match="database is locked"):
            session.commit()
    thread.join()
    assert errors == []

    # A write transaction holds the lock from its first statement: the other writer waits (busy_timeout)
    # until it commits, and both succeed, in order.
    done, errors = threading.Event(), []
    with sessions.begin() as session:
        device = session.get(Device, "dev-1")
        assert device is not None
        thread = _other_writer(sessions, done, errors)
        assert not done.wait(1.0), "the other writer got in while this transaction held the lock"
        device.label = "mine"
    thread.join(30)
    assert errors == []
    with sessions() as session:
        assert session.get(Device, "dev-1").label == "other"  # type: ignore[union-attr]
    engine.dispose()
