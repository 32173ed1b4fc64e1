"""The A/B tests' operator ssh: a connection that never ran the command is tried again; a command that ran
(whatever its status) or a connection that broke once it had started is not. A stand-in ``ssh`` on PATH
counts the calls; the real one is exercised by the A/B tests themselves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.images import abvm

FAKE_SSH = """#!/bin/sh
n=$(cat "$COUNT" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$COUNT"
if [ "$n" -le "$FAILURES" ]; then echo "$MESSAGE" >&2; exit 255; fi
echo ran; exit 0
"""


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text(FAKE_SSH)
    ssh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    count = tmp_path / "count"
    monkeypatch.setenv("COUNT", str(count))
    return count


def _operator(tmp_path: Path) -> abvm.Operator:
    operator = abvm.Operator.__new__(abvm.Operator)  # no key to generate: the stand-in ssh ignores it
    operator.config = tmp_path / "ssh_config"
    return operator


@pytest.mark.parametrize("message", ["Connection timed out during banner exchange",
                                     "ssh: connect to host 10.79.0.2 port 22: Connection refused"])
def test_a_connection_that_never_ran_the_command_is_tried_again(
        tmp_path: Path, fake_ssh: Path, monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    monkeypatch.setenv("FAILURES", str(abvm.SSH_TRIES - 1))
    monkeypatch.setenv("MESSAGE", message)
    proc = _operator(tmp_path).ssh("relay", "true")
    assert (proc.returncode, proc.stdout, fake_ssh.read_text().strip()) == (0, "ran\n", str(abvm.SSH_TRIES))


def test_it_gives_up_after_its_tries(tmp_path: Path, fake_ssh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILURES", "99")
    monkeypatch.setenv("MESSAGE", "Connection timed out during banner exchange")
    proc = _operator(tmp_path).ssh("relay", "true")
    assert (proc.returncode, fake_ssh.read_text().strip()) == (255, str(abvm.SSH_TRIES))


def test_a_connection_broken_after_the_command_started_is_not_tried_again(
        tmp_path: Path, fake_ssh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # e.g. `systemctl poweroff`: running it twice would be wrong.
    monkeypatch.setenv("FAILURES", "1")
    monkeypatch.setenv("MESSAGE", "Connection to 10.79.0.2 closed by remote host.")
    proc = _operator(tmp_path).ssh("relay", "systemctl poweroff")
    assert (proc.returncode, fake_ssh.read_text().strip()) == (255, "1")
