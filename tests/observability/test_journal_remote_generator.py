"""The relay image's journal-remote generator (issue #23) opens no listener unless relay.toml names a tunnel.

Its positive case (the tunnel address from a real relay.toml, reached by a real upload) is in
test_fleet_logs.py; a booted relay runs it in tests/provisioning/test_relay_registration.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.observability.test_fleet_logs import REMOTE_GENERATOR


def generate(tmp_path: Path, config: str | None) -> list[str]:
    path = tmp_path / "relay.toml"
    if config is not None:
        path.write_text(config)
    out = tmp_path / "generator"
    env = {**os.environ, "GUARDIAN_RELAY_CONFIG": str(path)}
    proc = subprocess.run([str(REMOTE_GENERATOR), str(out)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []


def test_no_relay_config_no_listener(tmp_path: Path) -> None:
    assert generate(tmp_path, None) == []


def test_demo_tls_mode_has_no_tunnel_and_no_listener(tmp_path: Path) -> None:
    assert generate(tmp_path, '[tunnel]\nmode = "tls"\nnetwork = "127.0.77.0/24"\n') == []


def test_the_tunnel_networks_first_address(tmp_path: Path) -> None:
    assert generate(tmp_path, '[tunnel]\nnetwork = "10.99.4.0/22"\n') == [
        "sockets.target.wants", "sockets.target.wants/systemd-journal-remote.socket",
        "systemd-journal-remote.socket.d", "systemd-journal-remote.socket.d/50-guardian-tunnel.conf",
    ]
    dropin = (tmp_path / "generator/systemd-journal-remote.socket.d/50-guardian-tunnel.conf").read_text()
    assert "\nListenStream=10.99.4.1:19532\nFreeBind=yes\n" in dropin
