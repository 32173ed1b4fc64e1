"""The relay → operator end of the log chain (issue #23) for the namespace lab (tests/relay/netlab.py).

``Operator`` is the operator's host: a third network namespace joined to the relay's by a veth pair (the relay's
way out to the internet), running systemd-journal-remote as provisioning configures it there (HTTPS with a
certificate of the lab's throw-away CA, ``--split-mode=host``: templates/journal-remote-operator.conf.j2).
``start_forwarder`` runs the relay image's guardian-journal-forward.service as its unit starts it, with the
journal-upload.conf.d file provisioning writes (templates/journal-upload-relay.conf.j2) read from where
journal-upload reads it (a bind mount in the process's own mount namespace, which ``ip netns exec`` gives it): the
command line and the file must agree (systemd 252 refuses a key or URL given in both).
Every command comes from the shipped unit or template: only its paths are moved into the lab's directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import jinja2
import pytest

from tests.relay.netlab import ROOT, Lab, sh, wait_for
from tests.relay.pki import make_server_cert

JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")
JOURNAL_UPLOAD = Path("/lib/systemd/systemd-journal-upload")
REMOTE_PORT = 19532
RELAY_IMAGE = ROOT / "mkosi.profiles/relay/mkosi.extra"
RELAY_REMOTE_DROPIN = RELAY_IMAGE / "usr/lib/systemd/system/systemd-journal-remote.service.d/50-guardian.conf"
FORWARD_UNIT = RELAY_IMAGE / "usr/lib/systemd/system/guardian-journal-forward.service"
TEMPLATES = ROOT / "provisioning/templates"
RECEIVED = "/var/log/journal/remote"  # where the units keep received journals (relay and operator alike)
FORWARD_STATE = "/var/lib/guardian-journal-forward"  # the forwarder's StateDirectory=
OPERATOR_ADDRESS = "192.168.78.2"
RELAY_OUTSIDE = "192.168.78.1"  # the relay's address towards the operator: what the operator sees


def require_journal_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "tc", "journalctl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    if not (JOURNAL_REMOTE.exists() and JOURNAL_UPLOAD.exists()):
        pytest.skip("systemd-journal-remote not installed (scripts/setup.d/15-observability.sh)")


def exec_start(unit_text: str, replace: dict[str, str]) -> list[str]:
    """The unit's (last) ExecStart= as arguments, each ``replace`` key (which must occur) replaced."""
    command = re.findall(r"^ExecStart=(.+)$", unit_text, re.MULTILINE)[-1]
    for old in replace:
        assert old in command, f"{old!r} not in ExecStart={command}"
    args = shlex.split(command)
    for old, new in replace.items():
        args = [arg.replace(old, new) for arg in args]
    return args


def render(template: str, **values: str) -> str:
    source = (TEMPLATES / template).read_text()
    return jinja2.Template(source, undefined=jinja2.StrictUndefined, keep_trailing_newline=True).render(**values)


def export_format(lines: list[str], unit: str, *, host: str | None = None, machine_id: str | None = None,
                  first_usec: int = 1_700_000_000_000_000) -> bytes:
    """Journal export format, one entry per line, as journald stores a service's stdout (with ``host``: the
    ``_HOSTNAME``, ``_MACHINE_ID`` and ``_BOOT_ID`` journald adds to every entry)."""
    trusted = f"_HOSTNAME={host}\n_MACHINE_ID={machine_id}\n_BOOT_ID={machine_id}\n" if host else ""
    return "".join(
        f"__REALTIME_TIMESTAMP={first_usec + i}\n{trusted}_SYSTEMD_UNIT={unit}\nSYSLOG_IDENTIFIER=guardian-edge\n"
        f"MESSAGE={line}\n\n"
        for i, line in enumerate(lines)
    ).encode()


def write_journal(path: Path, entries: bytes) -> None:
    """A journal file written by journal-remote itself, from the export format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(JOURNAL_REMOTE), f"--output={path}", "-"], input=entries, check=True, capture_output=True)


def journal_files(directory: Path) -> list[Path]:
    """The directory's journal files, archived ones (``*.journal~``, after an unclean stop) included."""
    return sorted(p for p in directory.glob("*.journal*") if p.is_file())


def messages(directory: Path, *matches: str) -> list[str]:
    """Every entry's MESSAGE, file by file: ``journalctl --directory`` would show an entry stored in two files
    once (it merges them), and these are the duplicates to count."""
    out: list[str] = []
    for path in journal_files(directory):
        shown = subprocess.run(["journalctl", f"--file={path}", "-o", "cat", "--no-pager", *matches],
                               capture_output=True, text=True)
        out += shown.stdout.splitlines()
    return out


def field_values(directory: Path, field: str) -> set[str]:
    shown = subprocess.run(["journalctl", f"--directory={directory}", f"--field={field}"], capture_output=True, text=True)
    return set(shown.stdout.split())


def last_cursor(directory: Path) -> str:
    shown = subprocess.run(["journalctl", f"--directory={directory}", "-n", "1", "-o", "export", "--no-pager"],
                           capture_output=True, text=True, check=True)
    return re.findall(r"^__CURSOR=(.+)$", shown.stdout, re.MULTILINE)[0]


def saved_cursor(state: Path) -> str | None:
    """The cursor journal-upload saved after the operator's last answer (``--save-state``)."""
    if not state.exists():
        return None
    found = re.findall(r"^LAST_CURSOR=(.+)$", state.read_text(), re.MULTILINE)
    return found[0] if found else None


def forwarded_all(lab: Lab, received: Path, state: Path, name: str = "forwarder") -> bool:
    """Whether the forwarder's saved cursor names the last entry received; it must still be running."""
    assert lab.procs[name].poll() is None, f"the forwarder exited: {lab.log_tail(name, 5)}"
    return saved_cursor(state) == last_cursor(received)


class Operator:
    """The operator's host: its namespace, its journal-remote (HTTPS) and the relay's throttled way to it."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.ns = f"grl-o-{lab.id}"
        self.veth_relay, self.veth_operator = f"vp{lab.id}", f"vo{lab.id}"
        self.received = lab.dir / "operator-journal"
        self.credentials = lab.dir / "operator-credentials"
        self.url = f"https://{OPERATOR_ADDRESS}:{REMOTE_PORT}"
        self.starts = 0

    def __enter__(self) -> Operator:
        try:
            sh("ip", "netns", "add", self.ns)
            sh("ip", "link", "add", self.veth_relay, "type", "veth", "peer", "name", self.veth_operator)
            sh("ip", "link", "set", self.veth_relay, "netns", self.lab.ns_relay)
            sh("ip", "link", "set", self.veth_operator, "netns", self.ns)
            for ns, dev, address in ((self.lab.ns_relay, self.veth_relay, RELAY_OUTSIDE),
                                     (self.ns, self.veth_operator, OPERATOR_ADDRESS)):
                sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", dev)
                sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", self.ns, "link", "set", "lo", "up")
            # The cloud host's certificate, of the lab's CA (the relay trusts it as cloud_ca_file): its credentials.
            cert, key = make_server_cert(self.lab.dir, self.lab.ca_cert, self.lab.dir / "ca.key", "operator",
                                         [OPERATOR_ADDRESS])
            self.credentials.mkdir()
            shutil.copy(cert, self.credentials / "tls.crt")
            shutil.copy(key, self.credentials / "tls.key")
            self.received.mkdir()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start_remote(self) -> str:
        """journal-remote as the cloud deploy runs it (its socket's address instead of fd 3); its process name."""
        self.starts += 1
        name = f"operator-journal-remote-{self.starts}"
        dropin = render("journal-remote-operator.conf.j2", tls="/etc/guardian/cloud-proxy-tls", directory=RECEIVED)
        command = exec_start(dropin, {"--listen-https=-3": f"--listen-https={OPERATOR_ADDRESS}:{REMOTE_PORT}",
                                      "%d": str(self.credentials), RECEIVED: str(self.received)})
        self.lab._start(name, self.ns, command)
        wait_for(lambda: self.lab.port_open(self.lab.ns_relay, OPERATOR_ADDRESS, REMOTE_PORT), 30,
                 "the operator's journal-remote")
        return name

    def throttle(self, rate: str) -> None:
        """The relay's upstream to the operator as a bounded link, so that a stream lasts long enough to be cut."""
        sh("ip", "netns", "exec", self.lab.ns_relay, "tc", "qdisc", "replace", "dev", self.veth_relay, "root",
           "tbf", "rate", rate, "burst", "64kb", "latency", "50ms")

    def close(self) -> None:
        pids = sh("ip", "netns", "pids", self.ns, check=False).stdout.split()
        for pid in pids:  # what the lab started here is stopped by lab.close(); anything left, by its pid
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        sh("ip", "netns", "del", self.ns, check=False)


def start_forwarder(lab: Lab, operator: Operator, received: Path, state: Path, name: str) -> subprocess.Popen[bytes]:
    """guardian-journal-forward.service on the relay: its ExecStart=, its credentials (the relay's TLS pair), and
    journal-upload.conf.d as provisioning writes it, trusting the operator's certificate by the lab's CA."""
    credentials = lab.dir / "forward-credentials"
    if not credentials.exists():
        credentials.mkdir()
        shutil.copy(lab.relay_cert, credentials / "tls.crt")
        shutil.copy(lab.relay_key, credentials / "tls.key")
    conf = lab.dir / "journal-upload.conf"
    conf.write_text(render("journal-upload-relay.conf.j2", url=operator.url, trust=str(lab.ca_cert)))
    command = exec_start(FORWARD_UNIT.read_text(), {"%d": str(credentials), RECEIVED: str(received),
                                                    FORWARD_STATE: str(state.parent)})
    assert state.name == "state"
    # `ip netns exec` runs it in a mount namespace of its own: the bind mount stays there.
    bind_conf = 'mount --bind "$0" /etc/systemd/journal-upload.conf && exec "$@"'
    return lab._start(name, lab.ns_relay, ["sh", "-c", bind_conf, str(conf), *command])
