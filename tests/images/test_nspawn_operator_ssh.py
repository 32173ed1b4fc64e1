"""Issue #19: the relay is its edges' jump host (pyinfra's ProxyJump): a wave of an image rollout opens one SSH
connection to the relay per edge of that relay in the wave, all from the operator's one address. The relay image
booted in systemd-nspawn (tests/images/nspawnlab.py) takes a wave's worth at once: 64 sessions, a 25 % wave of a
relay whose tunnel network (/24) is full. Before its socket allowed that, 8 got in and the rest were refused,
which the rollout would have reported as unreachable edges. Also the memory those sessions cost on the relay.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.images.bootcheck import build_image
from tests.images.nspawnlab import HOLD_DONE, RELAY, held_until_the_test_is_done, lan_bridge, start
from tests.provisioning.targets import PROVISIONING

sys.path.append(str(PROVISIONING))  # provisioning/ is pyinfra's working directory, not a package
from fleet.plan import full_relay_wave

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(os.geteuid() != 0, reason="systemd-nspawn and mkosi builds need root"),
    pytest.mark.skipif(shutil.which("systemd-nspawn") is None, reason="scripts/setup.d/60-images.sh installs systemd-container"),
]

WAVE = full_relay_wave()  # a rollout wave's share of a relay whose tunnel network is full (64)


# The sshd processes and their proportional set size (shared pages split among them), in KiB.
PSS = ("for p in $(pgrep -x 'sshd|sshd-session|sshd-auth'); do awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null; done"
       " | awk '{n++; s+=$1} END {print n, s}'")


def _ssh(config: Path, command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ssh", "-F", str(config), "relay", command], capture_output=True, text=True, timeout=timeout)


def test_the_relay_takes_a_waves_worth_of_operator_connections_at_once(tmp_path: Path) -> None:
    relay_dir = build_image("relay")
    work = tmp_path / "nspawn"
    work.mkdir()
    key = tmp_path / "operator"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "operator", "-f", str(key)], check=True)
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host relay\n    HostName {RELAY}\n    User root\n    IdentityFile {key}\n    BatchMode yes\n"
        "    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n    LogLevel ERROR\n    ConnectTimeout 30\n"
    )
    hold = held_until_the_test_is_done(
        work / "hold.sh", "tests/images/test_nspawn_operator_ssh.py", 600,
        report="ssh accepted=$(systemctl show -P NAccepted guardian-sshd.socket)"
        " refused=$(systemctl show -P NRefused guardian-sshd.socket)")
    files = {"ssh.authorized_keys.root": key.with_suffix(".pub"), "guardian.bootcheck.e2e": hold}
    with lan_bridge() as bridge:
        relay = start("relay", relay_dir, work, bridge, files, RELAY)
        try:
            deadline = time.monotonic() + 300
            while _ssh(config, "true", timeout=60).returncode != 0:
                assert time.monotonic() < deadline and relay.alive(), relay.tail()
                time.sleep(2)
            # The wave: every session held open for 10 s, so all are open at once; one more reads what they cost.
            with ThreadPoolExecutor(WAVE + 1) as pool:
                sessions = [pool.submit(_ssh, config, "sleep 10; echo in") for _ in range(WAVE)]
                time.sleep(6)
                cost = pool.submit(_ssh, config, PSS)
                results = [s.result() for s in sessions]
                measured = cost.result()
            _ssh(config, HOLD_DONE)
            relay.wait(300)
        finally:
            relay.wait(0)
    refused = [r.stderr.strip()[-200:] for r in results if r.returncode != 0 or r.stdout.strip() != "in"]
    print(f"{WAVE - len(refused)} of {WAVE} sessions in; during the wave, sshd processes and their PSS in KiB: "
          f"{measured.stdout.strip()}")
    assert refused == [], f"{len(refused)} of {WAVE} refused: {refused[:3]}"
    report = relay.report()
    assert report.finished and report.failed == [], relay.tail()
    line = next((line for line in report.e2e if line.startswith("ssh ")), "")
    assert "refused=0" in line, report.e2e
