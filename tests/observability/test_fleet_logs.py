"""Issue #23, part 3: edge logs reach the relay's systemd-journal-remote over the tunnel, without secrets.

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
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.relay.netlab import PYTHON, RELAY_TUNNEL, Lab, wait_for

ROOT = Path(__file__).resolve().parents[2]
UPLOAD_WRAPPER = ROOT / "mkosi.profiles/edge/mkosi.extra/usr/libexec/guardian-journal-upload"
REMOTE_GENERATOR = ROOT / "mkosi.profiles/relay/mkosi.extra/usr/lib/systemd/system-generators/guardian-journal-remote-generator"

JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")
JOURNAL_UPLOAD = Path("/lib/systemd/systemd-journal-upload")
REMOTE_PORT = 19532
CAMERA_PASSWORD = "s3cret-Camera-pass"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "wg", "wireguard-go", "journalctl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (scripts/setup.d/50-wireguard.sh)")
    if not (JOURNAL_REMOTE.exists() and JOURNAL_UPLOAD.exists()):
        pytest.skip("systemd-journal-remote not installed (scripts/setup.d/15-observability.sh)")
    camera = {"name": "front", "record_url": f"rtsp://admin:{CAMERA_PASSWORD}@127.0.0.1:8554/front"}
    lab = Lab(tmp_path / "lab", cloud=False, edge_overrides={"cameras": [camera]}).__enter__()
    try:
        yield lab
    finally:
        for name in lab.logs:  # shown by pytest only when the test failed
            print(f"===== {name} =====\n{lab.log_tail(name, 40)}")
        lab.close()


def export_format(lines: list[str], unit: str) -> bytes:
    """Journal export format, one entry per output line, as journald stores a service's stdout."""
    entries = []
    for i, line in enumerate(lines):
        entries.append(
            f"__REALTIME_TIMESTAMP={1_700_000_000_000_000 + i}\n_SYSTEMD_UNIT={unit}\n"
            f"SYSLOG_IDENTIFIER=guardian-edge\nMESSAGE={line}\n\n"
        )
    return "".join(entries).encode()


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


def test_edge_logs_reach_the_relay_journal_without_secrets(lab: Lab) -> None:
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
    edge_journal.parent.mkdir()
    subprocess.run(
        [str(JOURNAL_REMOTE), f"--output={edge_journal}", "-"],
        input=export_format(agent_lines, "guardian-edge-uplink.service"),
        check=True,
        capture_output=True,
    )

    listen = remote_listen(lab)
    assert listen == f"{RELAY_TUNNEL}:{REMOTE_PORT}"  # the tunnel address only
    received = lab.dir / "relay-journal" / "remote"
    received.mkdir(parents=True)
    lab._start(
        "journal-remote",
        lab.ns_relay,
        [
            str(JOURNAL_REMOTE),
            f"--listen-http={listen}",
            f"--output={received}/",
            "--split-mode=host",
        ],
    )
    wait_for(
        lambda: lab.port_open(lab.ns_edge, RELAY_TUNNEL, REMOTE_PORT), 30, "journal-remote on the tunnel"
    )
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
    assert token not in text
    assert token.split(".")[-1] not in text  # not even the signature part
    assert CAMERA_PASSWORD not in text and "admin:" not in text
    assert not EMAIL.findall(text), EMAIL.findall(text)
