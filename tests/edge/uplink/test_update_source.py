"""``guardian-edge update-source``: the box's updates come from the mirror of the relay it enrolled with,
through the tunnel (issue #19; the mirror itself: tests/relay/test_update_mirror.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.common.update_hosts import with_update_source, write_hosts
from agents.edge.cli import main
from agents.edge.config import EdgeSettings
from agents.edge.enrolment import Enrolment, enrolment_path
from demo import configs

HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"


def test_the_hosts_file_gets_one_line_for_the_relays_mirror() -> None:
    assert with_update_source(HOSTS, "10.77.0.1 guardian-updates") == HOSTS + "10.77.0.1 guardian-updates\n"
    # A new relay (re-enrolment elsewhere) replaces the old line; other names on a shared line stay.
    old = HOSTS + "10.77.0.1 guardian-updates\n10.9.0.1 guardian-updates mirror # old\n"
    assert with_update_source(old, "10.88.0.1 guardian-updates") == HOSTS + "10.9.0.1 mirror\n10.88.0.1 guardian-updates\n"
    assert with_update_source("", "10.77.0.1 guardian-updates") == "10.77.0.1 guardian-updates\n"


def test_write_hosts_keeps_the_file_mode_and_leaves_an_up_to_date_file_alone(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    hosts.chmod(0o644)
    assert write_hosts(hosts, "10.77.0.1 guardian-updates") is True
    assert hosts.read_text().endswith("10.77.0.1 guardian-updates\n")
    assert hosts.stat().st_mode & 0o777 == 0o644
    inode = hosts.stat().st_ino
    assert write_hosts(hosts, "10.77.0.1 guardian-updates") is False
    assert hosts.stat().st_ino == inode
    assert [p.name for p in tmp_path.iterdir()] == ["hosts"]


def test_the_command_points_the_update_name_at_the_enrolled_relays_tunnel_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configs.write_edge(tmp_path / "edge.toml", {"storage": {"data_dir": tmp_path / "data"}})
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    assert main(["update-source", "-c", str(config), "--hosts", str(hosts)]) == 1  # not enrolled: says so
    assert "not enrolled" in capsys.readouterr().err
    assert hosts.read_text() == HOSTS

    settings = EdgeSettings.model_validate({"storage": {"data_dir": tmp_path / "data"}})
    Enrolment("dev-1", "tenant-a", "https://relay.example:8443", "10.77.0.7", 24, "A" * 43 + "=",
              "relay.example:51820", "10.77.0.1", 50051, 50052, 25).save(enrolment_path(settings))
    assert main(["update-source", "-c", str(config), "--hosts", str(hosts)]) == 0
    assert capsys.readouterr().out == "10.77.0.1 guardian-updates\n"
    assert hosts.read_text() == HOSTS + "10.77.0.1 guardian-updates\n"
