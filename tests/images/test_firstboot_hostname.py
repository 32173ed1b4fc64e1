"""Every edge image ships with the hostname ``guardian-edge``; first boot gives the device its own, derived
from the device id the relay assigned. Here firstboot/guardian-firstboot runs on the host (as in
test_firstboot_esp.py) against a real relay (tls mode, loopback), with the real ``guardian-edge enrol``
behind a stand-in that only swaps the config path; the hostname goes to a file in tmp_path, never to the
host (GUARDIAN_HOSTNAME_FILE also keeps the script away from systemd-hostnamed)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.edge.uplink.enrol import device_hostname
from agents.relay.config import EnrolmentSettings
from tests.images.bootcheck import ROOT
from tests.relay.tlsstack import PYTHON, TlsStack

FIRSTBOOT = ROOT / "firstboot" / "guardian-firstboot"
HOSTNAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[TlsStack]:
    stack = TlsStack(tmp_path / "stack")
    try:
        stack.start_relay()
        yield stack
    finally:
        stack.close()
        print(f"===== relay =====\n{stack.log_tail('relay', 40)}")


def _firstboot(tmp_path: Path, stack: TlsStack, token: str) -> subprocess.CompletedProcess[str]:
    shim = tmp_path / "shim"
    shim.mkdir()
    scripts = {
        # The script calls `guardian-edge enrol -c /etc/guardian/edge.toml --relay … --token-file …`:
        # run the real command with the test's edge config (which trusts the relay's test CA).
        "guardian-edge": (f'[ "$2" = --help ] && exit 0\nshift 3\n'
                          f'cd {ROOT} && PYTHONPATH={ROOT} exec {PYTHON} -m agents.edge.cli enrol '
                          f'-c {stack.edge_config} "$@"'),
        "systemctl": "exit 0",
        "networkctl": "exit 0",
        "systemd-detect-virt": "exit 1",
    }
    for name, body in scripts.items():
        (shim / name).write_text(f"#!/bin/sh\n{body}\n")
        (shim / name).chmod(0o755)
    for d in ("state", "run", "issue", "credentials"):
        (tmp_path / d).mkdir()
    (tmp_path / "credentials" / "guardian.enrol").write_text(
        f"GUARDIAN_RELAY_ENDPOINT=127.0.0.1:{stack.enrol_port}\nGUARDIAN_BOOTSTRAP_TOKEN={token}\n")
    env = {
        "PATH": f"{shim}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "STATE_DIRECTORY": str(tmp_path / "state"),
        "RUNTIME_DIRECTORY": str(tmp_path / "run"),
        "CREDENTIALS_DIRECTORY": str(tmp_path / "credentials"),
        "GUARDIAN_ISSUE_DIR": str(tmp_path / "issue"),
        "GUARDIAN_CMDLINE": os.devnull,
        "GUARDIAN_WAIT_ONLINE_S": "1",
        "GUARDIAN_HOSTNAME_FILE": str(tmp_path / "hostname"),
    }
    return subprocess.run(["bash", str(FIRSTBOOT)], env=env, capture_output=True, text=True, timeout=120)


def test_first_boot_names_the_device_after_its_id(relay: TlsStack, tmp_path: Path) -> None:
    proc = _firstboot(tmp_path, relay, relay.token())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    device_id = relay.device_id
    assert _relay_devices(relay) == [device_id]
    name = (tmp_path / "hostname").read_text().strip()
    assert name == device_hostname(device_id) == f"guardian-{device_id}"
    assert HOSTNAME.match(name) and name != "guardian-edge"
    assert f"hostname {name}" in proc.stdout
    assert (tmp_path / "state" / "enrolled").exists()
    assert not (tmp_path / "hostname.tmp").exists()


def _relay_devices(stack: TlsStack) -> list[str]:
    import sqlite3

    with sqlite3.connect(stack.relay_db, timeout=10) as db:
        return [row[0] for row in db.execute("SELECT device_id FROM devices")]


@pytest.mark.parametrize("device_id", ["dev-0123456789abcdef", "DEV_0123.x", "é" * 80, "---", "a" * 200])
def test_any_device_id_gives_a_valid_hostname(device_id: str) -> None:
    name = device_hostname(device_id)
    assert HOSTNAME.match(name) and not name.endswith("-"), name


def test_device_ids_of_the_relay_give_distinct_hostnames() -> None:
    from agents.relay.registry import new_device_id

    ids = {new_device_id() for _ in range(200)}
    assert len({device_hostname(i) for i in ids}) == len(ids)


def test_the_example_enrolment_config_names_the_enrolment_port() -> None:
    text = (ROOT / "firstboot" / "enrol.conf.example").read_text()
    endpoint = re.search(r"^GUARDIAN_RELAY_ENDPOINT=(\S+)$", text, re.M)
    assert endpoint is not None
    assert endpoint[1].rsplit(":", 1)[1] == str(EnrolmentSettings.model_fields["port"].default)
