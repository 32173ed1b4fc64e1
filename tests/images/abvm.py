"""What the A/B update tests (the relay's, test_ab_update.py; the edge's, test_edge_ab_update.py) need around
QEMU: a UEFI boot (OVMF, systemd-boot, the UKIs on the ESP: boot counting lives there, so no direct kernel
boot), release files published and served over HTTP from the host (the relay VM reaches them at fixed
addresses; the edge through its relay's mirror), SSH to the guest for the operator's pyinfra, the rollout
itself, and what the console tells: the report lines of tests/images/ab-step.sh and each kernel start.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import free_port

HERE = Path(__file__).resolve().parent
STEP_SCRIPT = HERE / "ab-step.sh"
STEP_UNIT = HERE / "guardian-ab-step.service"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# The guest reaches "guardian-updates" at one of these (ab-step.sh points /etc/hosts at them), on the
# update mirror's port that the image's transfers name (a relay's mirror, agents/relay/update_mirror.py).
UPDATE_PORT = 8480
SOURCE_ADDRESSES = {
    "good": "10.0.2.100",
    "bad-signature": "10.0.2.101",
    "tampered": "10.0.2.102",
    "broken-v3": "10.0.2.103",
}


@dataclass
class UpdateSource:
    root: Path
    address: str = "127.0.0.1"
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    mirror_port: int | None = None  # a relay's update mirror in front of this source: the guest reaches that

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"


@contextmanager
def serve_sources(roots: Mapping[str, Path], address: str = "127.0.0.1") -> Iterator[dict[str, UpdateSource]]:
    """One HTTP server per update source on ``address``, recording the paths the guest asked for."""
    sources = {name: UpdateSource(root, address) for name, root in roots.items()}
    for source in sources.values():

        class Handler(SimpleHTTPRequestHandler):
            seen = source.requests

            def log_message(self, format: str, *args: object) -> None:
                self.seen.append(self.path)

        source.server = ThreadingHTTPServer((source.address, 0), partial(Handler, directory=str(source.root)))
        threading.Thread(target=source.server.serve_forever, daemon=True).start()
    try:
        yield sources
    finally:
        for source in sources.values():
            assert source.server is not None
            source.server.shutdown()
            source.server.server_close()


def release(role: str, out: Path, dest: Path, gpg_home: Path) -> dict[str, object]:
    """Publish the image built in ``out`` into ``dest`` with scripts/release-image.sh (SHA256SUMS signed with
    the key in ``gpg_home``); returns its figures (sizes)."""
    proc = subprocess.run(
        [str(HERE.parent.parent / "scripts" / "release-image.sh"), role, str(dest), "--gpg-home", str(gpg_home)],
        env={**os.environ, "GUARDIAN_IMAGES_OUT": str(out)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def rollout(inventory: Path, version: str, report: Path, boot_timeout: float, *args: str
            ) -> tuple[int, dict[str, object], float]:
    """provisioning/rollout.py with the inventory of one box, as the operator runs it: its exit status, the box's
    entry in the report, the wall time. ``args``: e.g. ``--group relays``. Bounded by twice ``boot_timeout``
    (the install, then the reboot and the verdict, which pyinfra bounds by ``boot_timeout``)."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "rollout.py", str(inventory), *args, "--version", version, "--report", str(report)],
        cwd=HERE.parent.parent / "provisioning", capture_output=True, text=True, timeout=2 * boot_timeout,
        env={**os.environ, "GUARDIAN_IMAGE_BOOT_TIMEOUT": str(int(boot_timeout))},
    )
    seconds = time.monotonic() - started
    print(f"===== rollout {version} (rc {proc.returncode}, {seconds:.0f} s) =====\n{proc.stderr[-4000:]}")
    assert report.exists(), proc.stderr[-3000:]
    entries = json.loads(report.read_text())["devices"]
    assert len(entries) == 1, entries
    entry: dict[str, object] = entries[0]
    return proc.returncode, entry, seconds


def seconds_in(detail: str, pattern: str) -> float | None:
    """A figure from a rollout report's detail (the host's logged timings); None if pyinfra did not print it."""
    match = re.search(pattern, detail)
    return float(match.group(1)) if match else None


def _credential(name: str, data: bytes) -> list[str]:
    return ["-smbios", f"type=11,value=io.systemd.credential.binary:{name}={base64.b64encode(data).decode()}"]


def new_machine(raw: Path, work: Path, grow_bytes: int) -> tuple[Path, Path]:
    """A disk (qcow2 over a copy of the flashed image, with room for slot B) and its UEFI variables."""
    base = work / "flashed.raw"
    shutil.copyfile(raw, base)
    disk = work / "disk.qcow2"
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "raw",
            "-b",
            str(base),
            str(disk),
            str(base.stat().st_size + grow_bytes),
        ],
        check=True,
    )
    efivars = work / "efivars.fd"
    shutil.copyfile(OVMF_VARS, efivars)
    return disk, efivars


class Machine:
    """A running QEMU guest: its console file and the host port forwarded to its SSH (guardian-sshd.socket;
    None when the guest's network is not QEMU's user network).

    A reboot restarts QEMU (``-no-reboot``, then the same command again: same disk, UEFI variables and SSH
    port), so every boot is a cold start. A warm reset inside one TCG QEMU once hung after the update: no
    firmware output for 8 minutes at full CPU after "reboot: machine restart", while a cold start of the same
    disk booted v2 at once (and warm resets before had worked). QEMU stops for good when the guest powers off.
    """

    def __init__(self, args: list[str], console: Path, ssh_port: int | None = None) -> None:
        self.args, self.console, self.ssh_port = args, console, ssh_port
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        try:
            while not self._stop.is_set():
                mark = self.console.stat().st_size if self.console.exists() else 0
                self.starts += 1
                self._process = subprocess.Popen(
                    self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                self._process.wait()
                with self.console.open("rb") as f:  # this run's console: a power-off ends it, a reboot starts again
                    f.seek(mark)
                    if b"reboot: Power down" in f.read() or self._process.returncode != 0:
                        break
        finally:
            self._done.set()

    def stopped(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> None:
        """Until the guest has powered off."""
        if not self._done.wait(timeout):
            raise AssertionError(f"the guest did not power off within {timeout:.0f} s")

    def kill(self) -> None:
        self._stop.set()
        while not self._done.is_set():
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
            self._done.wait(1)

    def console_text(self) -> str:
        return self.console.read_text(errors="replace") if self.console.exists() else ""

    def wait_for(self, line: str, count: int, timeout: float) -> str:
        """Wait until the console holds ``line`` ``count`` times (or the guest stops); returns the console."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.console_text()
            if text.count(line) >= count:
                return text
            if self.stopped():
                raise AssertionError(f"the guest stopped before {line!r} x{count}:\n{text[-3000:]}")
            time.sleep(2)
        raise AssertionError(f"no {line!r} x{count} on the console within {timeout:.0f} s:\n{self.console_text()[-3000:]}")


@contextmanager
def running(
    disk: Path, efivars: Path, console: Path, sources: Mapping[str, UpdateSource], authorized_key: str
) -> Iterator[Machine]:
    """Boot the machine on QEMU's user network (the update sources at SOURCE_ADDRESSES, its SSH forwarded to a
    host port) and keep it running across reboots; stopped at the end if it did not power off. The guest
    tries the bad sources itself on its first boot (ab-step.sh). The operator's key reaches root's
    authorized_keys as the credential ssh.authorized_keys.root, as a hypervisor hands it to a relay VM."""
    forwards = ",".join(
        f"guestfwd=tcp:{SOURCE_ADDRESSES[name]}:{UPDATE_PORT}-cmd:{sys.executable} {HERE / 'stdio_tcp.py'} 127.0.0.1 {source.mirror_port or source.port}"
        for name, source in sources.items()
    )
    ssh_port = free_port()
    network = ["-netdev", f"user,id=lan,hostfwd=tcp:127.0.0.1:{ssh_port}-:22,{forwards}"]
    credentials = {"guardian.abstep.refusals": b"bad-signature tampered\n",
                   "ssh.authorized_keys.root": authorized_key.encode()}
    with booted(disk, efivars, console, network, credentials, ssh_port=ssh_port) as machine:
        yield machine


@contextmanager
def booted(
    disk: Path, efivars: Path, console: Path, network: list[str], credentials: Mapping[str, bytes], *,
    smp: int = 1, ssh_port: int | None = None,
) -> Iterator[Machine]:
    """Boot the disk under UEFI with ``network`` (QEMU -netdev arguments for the NIC "lan"), the A/B step
    (ab-step.sh) and ``credentials``; kept running across reboots, stopped at the end if it did not power off."""
    dropin = b"[Unit]\nWants=guardian-ab-step.service\n"
    args = [
        "qemu-system-x86_64",
        "-machine",
        "q35",
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-smp",
        str(smp),
        "-m",
        "2048",
        "-nographic",
        "-no-reboot",
        "-monitor",
        "none",
        "-display",
        "none",
        "-drive",
        f"if=pflash,format=raw,unit=0,file={OVMF_CODE},readonly=on",
        "-drive",
        f"if=pflash,format=raw,unit=1,file={efivars}",
        "-drive",
        f"if=none,id=disk,file={disk},format=qcow2",
        "-device",
        "virtio-blk-pci,drive=disk",
        *network,
        "-device",
        "virtio-net-pci,netdev=lan",
        "-chardev",
        f"file,id=console,path={console},append=on",
        "-serial",
        "chardev:console",
        *_credential("guardian.abstep", STEP_SCRIPT.read_bytes()),
        *_credential("systemd.extra-unit.guardian-ab-step.service", STEP_UNIT.read_bytes()),
        *_credential("systemd.unit-dropin.multi-user.target", dropin),
    ]
    for name, data in credentials.items():
        args += _credential(name, data)
    machine = Machine(args, console, ssh_port)
    try:
        yield machine
    finally:
        machine.kill()


def ssh_config(path: Path, name: str, port: int, key: Path) -> Path:
    """An ssh_config naming the guest, for pyinfra (host data ssh_config_file) and plain ssh."""
    path.write_text(
        f"Host {name}\n    HostName 127.0.0.1\n    Port {port}\n    User root\n    IdentityFile {key}\n"
        "    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n    LogLevel ERROR\n"
        "    ConnectTimeout 30\n"
    )
    return path


_LINE = re.compile(r"GUARDIAN-AB (\w[\w-]*) ?(.*)")
_FIELD = re.compile(r"([\w-]+)=(\S*)")


def report_lines(console: str) -> list[tuple[str, dict[str, str]]]:
    """ab-step.sh's lines as (kind, fields): ("boot", {"version": ...}), ("update", {"source": ...}), ..."""
    lines = []
    for match in _LINE.finditer(console):
        lines.append((match.group(1), dict(_FIELD.findall(match.group(2)))))
    return lines


_KERNEL_START = re.compile(r"Command line:.*?usrhash=([0-9a-f]{12})")


def kernel_usrhashes(console: str) -> list[str]:
    """Each kernel start's /usr (the first 12 digits of its usrhash=, as ab-step.sh reports them): every boot,
    also those of a version whose health check rebooted it before ab-step.sh ran."""
    return _KERNEL_START.findall(console)


def assert_tried_three_times_then_back(console: str, flashed: str, good: str) -> None:
    """The kernel starts of a box flashed with ``flashed``, updated to ``good``, then given a version that never
    got healthy: flashed, good, the bad version three times (systemd-boot's tries), good again by itself."""
    kernels = kernel_usrhashes(console)
    assert len(kernels) == 6 and kernels[:2] == [flashed, good] and kernels[5] == good, kernels
    assert len(set(kernels[2:5])) == 1 and kernels[2] not in (flashed, good), kernels
