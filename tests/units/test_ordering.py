"""Stop order of the edge units (and the demo, which models them): the event producer stops before the
uplink, so the uplink's stop flush sends the last updates (tests/relay/test_stop_flush.py).

systemd stops units in the reverse of their start order: ``B After=A`` starts B after A and stops B
before A. Read from the unit files as systemd reads them (After= and Before= both order).
"""

from __future__ import annotations

from pathlib import Path

from demo.stack import EDGE_PROGRAMS, UNIT_OF

ROOT = Path(__file__).resolve().parents[2]
UNIT_DIRS = (ROOT / "units", ROOT / "firstboot")


def _orderings() -> dict[str, set[str]]:
    """unit → the units it starts after (directly)."""
    after: dict[str, set[str]] = {}
    for directory in UNIT_DIRS:
        for path in directory.glob("*.service"):
            for raw in path.read_text().splitlines():
                key, _, value = raw.strip().partition("=")
                if key == "After":
                    after.setdefault(path.name, set()).update(value.split())
                elif key == "Before":
                    for other in value.split():
                        after.setdefault(other, set()).add(path.name)
    return after


def _starts_after(unit: str, other: str, after: dict[str, set[str]]) -> bool:
    seen: set[str] = set()
    todo = [unit]
    while todo:
        for dep in after.get(todo.pop(), set()) - seen:
            if dep == other:
                return True
            seen.add(dep)
            todo.append(dep)
    return False


def test_the_detector_stops_before_the_uplink() -> None:
    after = _orderings()
    detector, uplink = "guardian-edge-detector.service", "guardian-edge-uplink.service"
    assert _starts_after(detector, uplink, after)  # so it stops before it
    assert not _starts_after(uplink, detector, after)  # and no cycle


def test_the_archive_uploader_stops_before_the_uplink_whose_tunnel_it_uses() -> None:
    assert _starts_after("guardian-edge-archive.service", "guardian-edge-uplink.service", _orderings())


def test_the_demo_starts_and_stops_the_edge_programs_in_the_units_order() -> None:
    after = _orderings()
    units = [f"{UNIT_OF[name]}.service" for name in EDGE_PROGRAMS]
    for i, earlier in enumerate(units):
        for later in units[i + 1:]:
            assert not _starts_after(earlier, later, after), f"the demo starts {earlier} before {later}"
    assert EDGE_PROGRAMS.index("detector") > EDGE_PROGRAMS.index("uplink")
