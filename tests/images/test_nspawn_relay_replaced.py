"""Issue #19: "the relay image replaced by a new version: every enrolled edge still connects", at native speed in
systemd-nspawn (tests/images/nspawnlab.py). The relay boots v1 of its image from a writable tree, as a relay VM
boots its disk; the edge image enrols through it and an event crosses the tunnel. The relay powers off, its
/usr is replaced by v2's (what an A/B update changes: /etc and /var, the data partition, stay; the update
itself under QEMU is tests/images/test_ab_update.py), and it boots again. The edge, which stayed up, queues an
event while the relay is away: the replaced relay acknowledges it over the same tunnel, with the device still
enrolled once, under the same identity, and nothing enrolled again. No cloud: the relay runs with its cloud
link off, as in the QEMU boot test without --cloud.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.images import relay_material
from tests.images.bootcheck import CACHE, build_image
from tests.images.nspawnlab import (
    EDGE,
    RELAY,
    Container,
    e2e_credentials,
    lan_bridge,
    start,
    write_credential,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(2400),  # an image build (incremental) and three boots; the containers bound their waits
    pytest.mark.skipif(os.geteuid() != 0, reason="systemd-nspawn and mkosi builds need root"),
    pytest.mark.skipif(shutil.which("systemd-nspawn") is None, reason="scripts/setup.d/60-images.sh installs systemd-container"),
]

V2 = "0.2.0"
# Bounds a failure, not a figure: each container's end-to-end step, from its boot.
WAIT_S = 900


def _relay_db(root: Path, sql: str) -> list[tuple]:
    """A query on the relay's database, read from its data in the tree (DynamicUser: /var/lib/private)."""
    db = root / "var" / "lib" / "private" / "guardian-relay" / "relay.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def _registry(root: Path) -> list[tuple]:
    return _relay_db(root, "SELECT device_id, public_key, tunnel_address, revoked_at FROM devices")


def _events(root: Path) -> set[str]:
    return {row[0] for row in _relay_db(root, "SELECT event_id FROM events")}


def _image_version(root: Path) -> str:
    for line in (root / "usr" / "lib" / "os-release").read_text().splitlines():
        if line.startswith("IMAGE_VERSION="):
            return line.split("=", 1)[1].strip('"')
    return ""


def test_a_relay_given_a_new_image_version_keeps_its_enrolled_edges(tmp_path: Path) -> None:
    v1, edge_dir = build_image("relay"), build_image("edge")
    v2 = build_image("relay", version=V2, out=CACHE / "images" / "relay-replaced" / "out")
    assert _image_version(v2) == V2 and _image_version(v1) != V2
    relay_root = tmp_path / "relay-root"  # the relay's disk: writable, kept between its boots
    subprocess.run(["cp", "-a", "--reflink=auto", str(v1), str(relay_root)], check=True)
    work = tmp_path / "nspawn"
    work.mkdir()
    relay_material.write(work, None, relay_material.RelayAddresses(lan=RELAY, extra_names=()))
    relay_files, edge_files = e2e_credentials(work, WAIT_S)
    relay_files["guardian.bootcheck.events"] = write_credential(work / "events-v1", "2\n")
    edge_files["guardian.bootcheck.relay-replaced"] = write_credential(work / "relay-replaced", "yes\n")
    started: list[Container] = []
    with lan_bridge() as bridge:
        try:
            first = start("relay", relay_root, work, bridge, relay_files, RELAY, volatile=False, name="relay-v1")
            started.append(first)
            edge = start("edge", edge_dir, work, bridge, edge_files, EDGE)
            started.append(edge)
            # v1 powers off by itself once it holds the edge's first event and its "ready" one.
            first.wait(WAIT_S)
            first_report = first.report()
            assert first_report.finished and first_report.end_rc == 0, first.tail() + edge.tail()
            before = _registry(relay_root)
            held_by_v1 = _events(relay_root)

            # The new version: v2's /usr over the same data, as the A/B update leaves the disk.
            shutil.rmtree(relay_root / "usr")
            subprocess.run(["cp", "-a", "--reflink=auto", str(v2 / "usr"), str(relay_root / "usr")], check=True)
            events_too = {"guardian.bootcheck.events": write_credential(work / "events-v2", "3\n")}
            second = start("relay", relay_root, work, bridge, relay_files | events_too, RELAY, volatile=False,
                           name="relay-v2")
            started.append(second)
            edge.wait(WAIT_S)
            second.wait(300)
        finally:
            for container in reversed(started):
                container.wait(0)
    edge_report, second_report = edge.report(), second.report()
    for container, report in ((first, first_report), (second, second_report), (edge, edge_report)):
        assert report.finished and report.end_rc == 0, container.tail()
        assert report.failed == [], container.tail()
    assert any(line.startswith("image version=0.1.0") for line in first_report.e2e), first_report.e2e
    assert any(line.startswith(f"image version={V2}") for line in second_report.e2e), second_report.e2e
    # The edge saw its relay go, queued an event meanwhile, and the replaced relay acknowledged it.
    assert any(line.startswith("relay_gone=yes") for line in edge_report.e2e), edge_report.e2e
    second_event = next((line for line in edge_report.e2e if line.startswith("after_replacement ")), "")
    assert "acked=yes" in second_event, edge.tail()
    event_id = second_event.split("event=", 1)[1].split()[0]
    assert len(held_by_v1) == 2 and event_id not in held_by_v1, (held_by_v1, event_id)
    assert any(line.startswith("event=") and event_id in line and "received=yes" in line
               for line in second_report.e2e), second_report.e2e
    assert _events(relay_root) == held_by_v1 | {event_id}
    # One device, enrolled once, with the same key and tunnel address before and after the new version.
    assert len(before) == 1 and before[0][3] is None, before
    assert _registry(relay_root) == before
