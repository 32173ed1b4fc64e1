"""Issue #23, part 3: edge logs reach the relay's systemd-journal-remote over the tunnel, and the operator's through the
relay, without secrets.

In the WireGuard namespace lab: the real edge agents run (enrolment with a bootstrap token, the uplink with
a camera whose RTSP URL carries credentials); their output becomes a journal file as journald would store
it (``MESSAGE=`` per line, written by systemd-journal-remote from the export format: the lab has no
journald); ``systemd-journal-upload`` ships it from the edge's namespace to the relay's
``systemd-journal-remote`` listening on the relay's tunnel address. The received journal is read back with
``journalctl --directory`` and scanned for e-mails, the token and the camera credentials.

Both addresses come from the images' own scripts, run on the lab's real files: the edge's upload runs through
the image's wrapper, which takes the URL from its enrolment record (mkosi.profiles/edge/…/guardian-journal-upload,
the unit's ExecStart=), and the
relay's listen address from its relay.toml (mkosi.profiles/relay/…/guardian-journal-remote-generator, the
socket's drop-in), so an edge's upload reaches the relay only if the two agree.

The relay forwards what it received to the operator's host (tests/observability/journal_chain.py: a third namespace,
HTTPS with a throw-away CA): the relay image's guardian-journal-forward.service reading the relay's received
directory, the relay's journal-remote as the image's drop-in runs it (all edges in one file), the operator's as
provisioning runs it (``--split-mode=host``: one file per uploading address). Every edge of a relay lands in that
relay's file at the operator; edges stay apart by the ``_HOSTNAME``/``_MACHINE_ID`` their journald wrote, which both
journal-remotes keep. A second edge's backlog, older than the lines already forwarded, is forwarded too.
(kill -9 of the forwarder and of the operator's journal-remote: test_fleet_logs_kill9.py.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.observability.journal_chain import (
    JOURNAL_REMOTE,
    JOURNAL_UPLOAD,
    RECEIVED,
    RELAY_OUTSIDE,
    RELAY_REMOTE_DROPIN,
    REMOTE_PORT,
    Operator,
    exec_start,
    export_format,
    field_values,
    forwarded_all,
    journal_files,
    messages,
    require_journal_tools,
    start_forwarder,
    write_journal,
)
from tests.relay.netlab import PYTHON, RELAY_TUNNEL, Lab, wait_for

ROOT = Path(__file__).resolve().parents[2]
UPLOAD_WRAPPER = ROOT / "mkosi.profiles/edge/mkosi.extra/usr/libexec/guardian-journal-upload"
REMOTE_GENERATOR = ROOT / "mkosi.profiles/relay/mkosi.extra/usr/lib/systemd/system-generators/guardian-journal-remote-generator"

__all__ = ["JOURNAL_REMOTE", "REMOTE_PORT", "export_format", "remote_listen", "upload_command"]  # bench/fleet_logs.py
CAMERA_PASSWORD = "s3cret-Camera-pass"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
# What journald adds to each of an edge's entries: its host name (first boot derives it from the device id),
# machine id and boot id.
EDGE_HOST, EDGE_MACHINE = "guardian-edge-a", "a" * 32
LATE_HOST, LATE_MACHINE = "guardian-edge-b", "b" * 32


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    require_journal_tools()
    for tool in ("wg", "wireguard-go"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (scripts/setup.d/50-wireguard.sh)")
    camera = {"name": "front", "record_url": f"rtsp://admin:{CAMERA_PASSWORD}@127.0.0.1:8554/front"}
    lab = Lab(tmp_path / "lab", cloud=False, edge_overrides={"cameras": [camera]}).__enter__()
    try:
        yield lab
    finally:
        for name in lab.logs:  # shown by pytest only when the test failed
            print(f"===== {name} =====\n{lab.log_tail(name, 40)}")
        lab.close()


@pytest.fixture
def operator(lab: Lab) -> Iterator[Operator]:
    with Operator(lab) as host:
        yield host


def upload_command(lab: Lab, *options: str) -> list[str]:
    """systemd-journal-upload as the edge image starts it: through its wrapper, on the lab's enrolment record."""
    return ["env", f"GUARDIAN_JOURNAL_UPLOAD={JOURNAL_UPLOAD}", str(UPLOAD_WRAPPER),
            str(lab.edge_data / "uplink" / "enrolment.json"), *options]


def remote_listen(lab: Lab) -> str:
    """Where the relay image's journal-remote socket listens: its generator on the lab's relay.toml."""
    out = lab.dir / "generator"
    subprocess.run([str(REMOTE_GENERATOR), str(out)], check=True, env={**os.environ, "GUARDIAN_RELAY_CONFIG": str(lab.relay_config)})
    dropin = (out / "systemd-journal-remote.socket.d" / "50-guardian-tunnel.conf").read_text()
    assert (out / "sockets.target.wants" / "systemd-journal-remote.socket").is_symlink()  # enabled with its config
    listen = re.findall(r"^ListenStream=(\S*)$", dropin, re.MULTILINE)
    assert listen[0] == "" and len(listen) == 2, dropin  # the package's "every address" is reset first
    return listen[1]


def assert_no_secrets(text: str, token: str) -> None:
    assert token not in text
    assert token.split(".")[-1] not in text  # not even the signature part
    assert CAMERA_PASSWORD not in text and "admin:" not in text
    assert not EMAIL.findall(text), EMAIL.findall(text)


def test_edge_logs_reach_the_relay_and_the_operator_without_secrets(lab: Lab, operator: Operator) -> None:
    lab.start_relay()
    token = lab.token()
    enrolled = lab.enrol(token)
    assert enrolled.returncode == 0, enrolled.stderr
    lab.start_edge()
    wait_for(lambda: b"uplink" in lab.logs["edge"].read_bytes(), 30, "the uplink agent to log")
    wait_for(lambda: lab.port_open(lab.ns_edge, RELAY_TUNNEL, 50051), 60, "the tunnel")
    lab.stop("edge")  # flushes its last lines
    # The recorder with a camera that refuses: its failures quote the stream's URL (redacted when logged).
    lab._start(
        "recorder",
        lab.ns_edge,
        [PYTHON, "-m", "agents.edge.cli", "recorder", "run", "-c", str(lab.edge_config)],
    )
    wait_for(
        lambda: b"stream_failed" in lab.logs["recorder"].read_bytes(), 60, "the recorder to log a failure"
    )
    lab.stop("recorder")

    agent_lines = (enrolled.stdout + enrolled.stderr).splitlines()
    for agent in ("edge", "recorder"):
        agent_lines += lab.log_tail(agent, 10_000).splitlines()
    assert len(agent_lines) > 5, "the agents logged almost nothing: the scan would prove nothing"
    edge_journal = lab.dir / "edge-journal" / "system.journal"
    write_journal(edge_journal, export_format(agent_lines, "guardian-edge-uplink.service", host=EDGE_HOST,
                                              machine_id=EDGE_MACHINE))

    listen = remote_listen(lab)
    assert listen == f"{RELAY_TUNNEL}:{REMOTE_PORT}"  # the tunnel address only
    # The relay: its received directory exists before any edge connects (the image's tmpfiles.d), journal-remote
    # as the image's drop-in runs it, and the forwarder following that directory from the start.
    received = lab.dir / "relay-journal" / "remote"
    received.mkdir(parents=True)
    lab._start("journal-remote", lab.ns_relay, exec_start(RELAY_REMOTE_DROPIN.read_text(), {
        "--listen-http=-3": f"--listen-http={listen}", RECEIVED: str(received)}))
    wait_for(
        lambda: lab.port_open(lab.ns_edge, RELAY_TUNNEL, REMOTE_PORT), 30, "journal-remote on the tunnel"
    )
    operator.start_remote()
    state = lab.dir / "forward" / "state"
    start_forwarder(lab, operator, received, state, "forwarder")

    upload = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            lab.ns_edge,
            *upload_command(lab, f"--file={edge_journal}", "--follow=no", f"--save-state={lab.dir / 'upload.state'}"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upload.returncode == 0, upload.stderr

    def shipped() -> str:
        return subprocess.run(
            ["journalctl", f"--directory={received}", "-o", "cat", "--no-pager"],
            capture_output=True,
            text=True,
        ).stdout

    text = wait_for(
        lambda: shipped().count("\n") >= len(agent_lines) and shipped(), 30, "the shipped entries"
    )
    assert isinstance(text, str)
    assert "uplink" in text and "stream_failed" in text  # the agents' own lines arrived
    assert_no_secrets(text, token)

    # The operator: the edge's lines, forwarded by the relay, in the relay's file (named by the address the
    # relay uploads from), the edge still told apart by what its journald wrote.
    wait_for(lambda: forwarded_all(lab, received, state), 60, "the forwarder to send all it received")
    at_operator = messages(operator.received)
    assert len(at_operator) == len(agent_lines)  # all of them, once
    operator_text = "\n".join(at_operator)
    assert "uplink" in operator_text and "stream_failed" in operator_text
    assert_no_secrets(operator_text, token)
    assert [p.name for p in journal_files(operator.received)] == [f"remote-{RELAY_OUTSIDE}.journal"]
    assert field_values(operator.received, "_HOSTNAME") == {EDGE_HOST}

    # A second edge's backlog (its lines from an outage, older than everything forwarded so far) reaches the
    # relay after the first edge's lines went on: forwarded too. (From the relay's namespace: the tunnel is
    # proven above; what matters is the order in which the relay receives.)
    late = [f"late line {i} of a second edge" for i in range(50)]
    late_journal = lab.dir / "late-edge-journal" / "system.journal"
    write_journal(late_journal, export_format(late, "guardian-edge-uplink.service", host=LATE_HOST,
                                              machine_id=LATE_MACHINE, first_usec=1_600_000_000_000_000))
    upload = subprocess.run(["ip", "netns", "exec", lab.ns_relay, str(JOURNAL_UPLOAD), f"--file={late_journal}",
                             "--follow=no", f"--url=http://{listen}"], capture_output=True, text=True, timeout=60)
    assert upload.returncode == 0, upload.stderr
    assert messages(received, f"_HOSTNAME={LATE_HOST}") == late  # at the relay
    wait_for(lambda: forwarded_all(lab, received, state), 60, "the forwarder to send all it received")
    assert messages(operator.received, f"_HOSTNAME={LATE_HOST}") == late
    assert messages(operator.received, f"_MACHINE_ID={LATE_MACHINE}") == late
    assert messages(operator.received, f"_HOSTNAME={EDGE_HOST}") == at_operator
    assert field_values(operator.received, "_HOSTNAME") == {EDGE_HOST, LATE_HOST}
    assert [p.name for p in journal_files(operator.received)] == [f"remote-{RELAY_OUTSIDE}.journal"]
