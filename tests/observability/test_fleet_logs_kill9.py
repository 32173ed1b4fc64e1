"""Issue #23: kill -9 on the relay → operator log path loses nothing (tests/observability/journal_chain.py).

The relay has received 20 000 lines of an edge (one journal file written by journal-remote, as the relay image's
journal-remote writes them); its forwarder (the relay image's guardian-journal-forward.service) streams them over
HTTPS to the operator's journal-remote (provisioning's), through a bounded link so that the stream can be cut:

- the forwarder is SIGKILLed mid-stream and started again with the same ``--save-state``, as its unit restarts it;
- the operator's journal-remote is SIGKILLed mid-stream: the forwarder's upload fails and it exits (journal-upload
  does not retry by itself; its unit's ``Restart=always`` starts it again), the operator's journal-remote is started
  again (its socket would), then the forwarder.

Each time, once the forwarder's saved cursor names the last line, every line is at the operator, counted file by
file (journal-remote sets aside a file left open by a kill as ``*.journal~``); the duplicates (a cut upload is sent
again from the last cursor the operator answered) are printed, as figures for docs/operations.md.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.observability.journal_chain import (
    Operator,
    export_format,
    forwarded_all,
    journal_files,
    messages,
    require_journal_tools,
    saved_cursor,
    start_forwarder,
    write_journal,
)
from tests.relay.netlab import Lab, wait_for

LINES = 20_000
CUT_AFTER = 2_000  # lines at the operator when the kill comes: well inside the stream
RATE = "24mbit"  # ~3 s for the whole stream: long enough to cut it, short for the suite


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    require_journal_tools()
    lab = Lab(tmp_path / "lab", cloud=False).__enter__()  # the namespaces only: no agent is needed here
    try:
        yield lab
    finally:
        for name in lab.logs:  # shown by pytest only when the test failed
            print(f"===== {name} =====\n{lab.log_tail(name, 20)}")
        lab.close()


@pytest.fixture
def operator(lab: Lab) -> Iterator[Operator]:
    with Operator(lab) as host:
        host.throttle(RATE)
        yield host


def received_journal(lab: Lab) -> Path:
    """The relay's received directory with the edge's 20 000 lines, in the one file the relay's journal-remote writes."""
    received = lab.dir / "relay-journal" / "remote"
    lines = [f"forward-probe {i:05d} " + "x" * 80 for i in range(LINES)]  # ~ an agent's JSON line
    write_journal(received / "remote.journal", export_format(lines, "guardian-edge-uplink.service",
                                                             host="guardian-edge-a", machine_id="a" * 32))
    return received


def probes(operator: Operator) -> list[str]:
    return [line.split()[1] for line in messages(operator.received) if line.startswith("forward-probe ")]


def delivered(lab: Lab, operator: Operator, received: Path, state: Path, what: str) -> Counter[str]:
    """Wait until the forwarder's saved cursor names the last line, stop it, and count what the operator has."""
    wait_for(lambda: forwarded_all(lab, received, state), 120, "the forwarder to send all it received", 0.5)
    lab.stop("forwarder")
    counts = Counter(probes(operator))
    lost, duplicates = LINES - len(counts), sum(counts.values()) - len(counts)
    files = [p.name for p in journal_files(operator.received)]
    print(f"{what}: {LINES} lines, lost {lost}, duplicates {duplicates}, operator's files {files}")
    assert lost == 0, f"{lost} lines never reached the operator"
    return counts


def test_forwarder_killed_mid_stream_loses_nothing(lab: Lab, operator: Operator) -> None:
    received = received_journal(lab)
    operator.start_remote()
    state = lab.dir / "forward" / "state"
    start_forwarder(lab, operator, received, state, "forwarder")
    wait_for(lambda: len(probes(operator)) >= CUT_AFTER, 60, "the stream to start")
    lab.kill9("forwarder")
    cut_at = len(probes(operator))
    assert cut_at < LINES, "the stream ended before the kill: nothing was cut"
    assert saved_cursor(state) is None  # one upload carries the whole backlog: its cursor is saved when it ends
    start_forwarder(lab, operator, received, state, "forwarder")  # as Restart=always does, 30 s later
    counts = delivered(lab, operator, received, state, f"forwarder SIGKILLed at {cut_at} lines")
    assert max(counts.values()) <= 2  # the cut upload and the one after the restart, no more


def test_operator_killed_mid_stream_loses_nothing(lab: Lab, operator: Operator) -> None:
    received = received_journal(lab)
    remote = operator.start_remote()
    state = lab.dir / "forward" / "state"
    forwarder = start_forwarder(lab, operator, received, state, "forwarder")
    wait_for(lambda: len(probes(operator)) >= CUT_AFTER, 60, "the stream to start")
    lab.kill9(remote)
    cut_at = len(probes(operator))
    assert cut_at < LINES, "the stream ended before the kill: nothing was cut"
    # journal-upload gives up on a failed upload (its unit restarts it); it keeps no cursor of the cut upload.
    try:
        code = forwarder.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail("the forwarder went on after the operator's journal-remote died")
    assert code != 0 and "failed" in lab.log_tail("forwarder", 5), lab.log_tail("forwarder", 5)
    operator.start_remote()
    start_forwarder(lab, operator, received, state, "forwarder")
    counts = delivered(lab, operator, received, state, f"operator's journal-remote SIGKILLed at {cut_at} lines")
    assert max(counts.values()) <= 2
