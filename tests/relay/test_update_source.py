"""``guardian-relay update-source``: a relay image updates through its own update mirror, the one its edges
use (issue #19; under QEMU with an edge attached: tests/images/test_ab_update.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.relay.cli import main
from demo import configs

HOSTS = "127.0.0.1\tlocalhost\n10.0.2.101 guardian-updates\n"
MIRROR = {"updates": {"enabled": True, "origin": "https://updates.example.net/"}}


def _run(tmp_path: Path, data: dict[str, object]) -> int:
    base = {
        "enrolment": {"tls_cert_file": tmp_path / "tls.crt", "tls_key_file": tmp_path / "tls.key",
                      "public_endpoint": "relay.example.net:51820", "token_public_keys": []},
        "cloud": {"enabled": False, "relay_id": "relay-1", "tenant_id": "tenant-a"},
    }
    config = configs.write_relay(tmp_path / "relay.toml", base, data)
    return main(["update-source", "-c", str(config), "--hosts", str(tmp_path / "hosts")])


def test_the_update_name_points_at_the_relays_own_mirror_on_its_tunnel_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "hosts").write_text(HOSTS)
    assert _run(tmp_path, {**MIRROR, "tunnel": {"network": "10.88.4.0/24"}}) == 0
    assert capsys.readouterr().out == "10.88.4.1 guardian-updates\n"
    # The earlier line (here: a test source) is replaced, not added to.
    assert (tmp_path / "hosts").read_text() == "127.0.0.1\tlocalhost\n10.88.4.1 guardian-updates\n"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({}, "[updates] is not enabled"),
        ({"updates": {**MIRROR["updates"], "port": 8481}}, "port = 8481"),
    ],
    ids=["no-mirror", "other-port"],
)
def test_a_relay_without_a_usable_mirror_says_so_and_leaves_the_hosts_file_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, object], says: str
) -> None:
    (tmp_path / "hosts").write_text(HOSTS)
    assert _run(tmp_path, data) == 1
    assert says in capsys.readouterr().err
    assert (tmp_path / "hosts").read_text() == HOSTS
