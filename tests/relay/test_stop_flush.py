"""An orderly stop of the edge sends what the event outbox holds before the uplink exits.

The detector stops first (unit ordering, demo order: tests/test_stop_order.py) and leaves its last
"ended" updates in the outbox; the uplink, stopped next, keeps sending for up to ``uplink.stop_flush_s``.
Here the uplink is caught in its reconnect wait (the relay was away while events were queued, and the
backoff is long), so without the flush the events would stay on the edge until the next start.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo import configs
from tests.relay.tlsstack import TlsStack, port_open, wait_for

QUEUED = 25


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[TlsStack]:
    st = TlsStack(tmp_path / "tlsstack")
    data = tomllib.loads(st.edge_config.read_text())
    # A reconnect wait far longer than the test: only the stop flush can deliver the queued events.
    configs.write_edge(st.edge_config, data, {"uplink": {"backoff_base_s": 600.0, "backoff_max_s": 600.0,
                                                         "stop_flush_s": 30.0}})
    try:
        yield st
    finally:
        st.close()
        for name in st.logs:
            print(f"===== {name} =====\n{st.log_tail(name, 40)}")


def _edge_outbox_events(st: TlsStack) -> int:
    from agents.edge import outbox
    from agents.edge.db import open_database
    from agents.edge.outbox import OutboxKind

    engine, sessions = open_database(st.edge_db)
    try:
        with sessions() as session:
            return outbox.length(session, OutboxKind.EVENT)
    finally:
        engine.dispose()


def test_stop_flushes_the_outbox_to_the_relay(stack: TlsStack) -> None:
    st = stack
    st.start_relay()
    assert st.enrol().returncode == 0
    first = st.add_event(None)
    st.start_edge()
    wait_for(lambda: first in st.relay_events(), 30, "the first event at the relay")

    st.stop("relay")  # the uplink's stream breaks; it waits (up to 600 s) before reconnecting
    queued = {st.add_event(None) for _ in range(QUEUED)}
    assert _edge_outbox_events(st) >= QUEUED
    st.start_relay()
    wait_for(lambda: port_open("127.0.0.1", st.uplink_port), 30, "the relay's uplink port")

    edge = st.procs["edge"]
    st.stop("edge", timeout=60)
    assert edge.returncode == 0, st.log_tail("edge")
    assert queued <= st.relay_events(), f"missing at the relay: {len(queued - st.relay_events())}"
    assert _edge_outbox_events(st) == 0
    assert '"uplink_stop_flush"' in st.logs["edge"].read_text()
