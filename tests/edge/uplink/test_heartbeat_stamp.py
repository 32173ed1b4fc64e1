"""The uplink's heartbeat stamp (what the image's boot assessment waits for): an old one goes when the uplink starts,
each acknowledged heartbeat writes it, and a stamp that cannot be written never stops the uplink."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from agents.edge.uplink.heartbeat_stamp import HeartbeatStamp


def test_a_stamp_from_an_earlier_process_goes_and_an_acknowledged_heartbeat_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    path.write_text("")
    stamp = HeartbeatStamp(path)
    assert not path.exists()
    stamp.touch()
    assert path.exists()


def test_a_stamp_that_cannot_be_written_is_said_once_and_raises_nothing(tmp_path: Path) -> None:
    path = tmp_path / "no-such-directory" / "heartbeat"
    with capture_logs() as logs:
        stamp = HeartbeatStamp(path)
        for _ in range(3):
            stamp.touch()
    failures = [entry for entry in logs if entry["event"] == "heartbeat_stamp_failed"]
    assert len(failures) == 1 and failures[0]["path"] == str(path), logs
    assert not path.exists()
