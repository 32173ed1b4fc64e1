"""What the A/B update tests (the relay's, test_ab_update.py; the edge's, test_edge_ab_update.py) need around
QEMU: a UEFI boot (OVMF, systemd-boot, the UKIs on the ESP: boot counting lives there, so no direct kernel
boot), release files published and served over HTTP from the host (the boxes fetch them through a relay's
update mirror; the bad sources a relay VM tries itself on the lab LAN), the operator (SSH to the relay and,
through it, to the edge; the rollout with pyinfra), and what the console tells: the report lines of
tests/images/ab-step.sh and each kernel start.
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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEP_SCRIPT = HERE / "ab-step.sh"
STEP_UNIT = HERE / "guardian-ab-step.service"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
KERNEL_PANIC = "Kernel panic - not syncing"

# The port of the update mirror that the images' transfers name (a relay's, agents/relay/update_mirror.py): a test
# source the guest is to fetch from directly (as "guardian-updates") listens there.
UPDATE_PORT = 8480


@dataclass
class UpdateSource:
    root: Path
    address: str = "127.0.0.1"
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"


@contextmanager
def serve_sources(roots: Mapping[str, Path], address: str = "127.0.0.1", port: int = 0
                  ) -> Iterator[dict[str, UpdateSource]]:
    """One HTTP server per update source on ``address`` (and ``port``; 0: any free one), recording the paths the
    guest asked for."""
    sources = {name: UpdateSource(root, address) for name, root in roots.items()}
    for source in sources.values():

        class Handler(SimpleHTTPRequestHandler):
            seen = source.requests

            def log_message(self, format: str, *args: object) -> None:
                self.seen.append(self.path)

        source.server = ThreadingHTTPServer((source.address, port), partial(Handler, directory=str(source.root)))
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
    """A running QEMU guest and its console file.

    A reboot restarts QEMU (``-no-reboot``, then the same command again: same disk, UEFI variables and
    network), so every boot is a cold start. A warm reset inside one TCG QEMU once hung after the update: no
    firmware output for 8 minutes at full CPU after "reboot: machine restart", while a cold start of the same
    disk booted v2 at once (and warm resets before had worked). QEMU stops for good when the guest powers off.
    """

    def __init__(self, args: list[str], console: Path, tpm: Path | None = None) -> None:
        self.args, self.console, self.tpm = args, console, tpm
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
                with software_tpm(self.tpm) if self.tpm else nullcontext():
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


def tpm_socket(state: Path) -> Path:
    return state / "swtpm.sock"


@contextmanager
def software_tpm(state: Path) -> Iterator[None]:
    """swtpm, a TPM 2.0 emulator, for one QEMU run: its NVRAM (the sealing keys) lives in ``state`` and so
    outlives the run, as a Mini PC's TPM outlives a reboot. One process per run: QEMU shuts its TPM down when
    it exits."""
    state.mkdir(exist_ok=True)
    socket = tpm_socket(state)
    socket.unlink(missing_ok=True)
    process = subprocess.Popen(
        ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}", "--ctrl", f"type=unixio,path={socket}",
         "--log", f"file={state / 'swtpm.log'}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert process.poll() is None and time.monotonic() < deadline, \
                f"swtpm did not start: {(state / 'swtpm.log').read_text(errors='replace')[-2000:]}"
            time.sleep(0.1)
        yield
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(30)


@contextmanager
def booted(
    disk: Path, efivars: Path, console: Path, network: list[str], credentials: Mapping[str, bytes], *,
    smp: int = 1, mac: str | None = None, tpm: Path | None = None,
) -> Iterator[Machine]:
    """Boot the disk under UEFI with ``network`` (QEMU -netdev arguments for the NIC "lan", with ``mac`` if
    given), the A/B step (ab-step.sh) and ``credentials``; kept running across reboots, stopped at the end if it
    did not power off. ``smp`` > 1 runs multi-threaded TCG: faster, but a relay VM's kernel once panicked at 4 s
    with 2 vCPUs (an int3 Oops while patching its own code, a known multi-threaded TCG hazard), so the relay's
    test keeps one; the edge's kernel did too ("Fatal exception in interrupt", 2 of ~13 boots). The images'
    panic=10 reboots such a kernel, as it would a box in the field, and QEMU starts again. ``tpm``: a TPM 2.0 (swtpm, a CRB device as on Intel's firmware TPMs) whose state is kept in
    that directory across reboots; without it the machine has none."""
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
        "virtio-net-pci,netdev=lan" + (f",mac={mac}" if mac else ""),
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
    if tpm:
        args += ["-chardev", f"socket,id=chrtpm,path={tpm_socket(tpm)}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                 "-device", "tpm-crb,tpmdev=tpm0"]
    machine = Machine(args, console, tpm)
    try:
        yield machine
    finally:
        machine.kill()


def until(what: str, check: Callable[[], object], timeout: float, guest: Machine | None = None) -> None:
    """Poll ``check()`` every 3 s until it is true; fail after ``timeout`` or when the guest stopped."""
    deadline = time.monotonic() + timeout
    while not check():
        assert guest is None or not guest.stopped(), f"{what}: the guest stopped:\n{guest.console_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(3)


# Run on a relay as root (over the operator's SSH): its registry and event cache, read-only.
RELAY_STATE = """/usr/lib/guardian/bin/python - <<'EOF'
import json, sqlite3
c = sqlite3.connect('file:/var/lib/guardian-relay/relay.db?mode=ro', uri=True)
print(json.dumps({
    'devices': [list(r) for r in c.execute('select device_id, public_key, tunnel_address, revoked_at from devices')],
    'events': [r[0] for r in c.execute('select event_id from events')],
}))
EOF"""


SSH_TRIES = 3
# ssh's messages for a connection that never got as far as running the command.
NOT_CONNECTED = ("during banner exchange", "Connection timed out", "Connection refused", "No route to host",
                 "kex_exchange_identification")


class Operator:
    """The operator's side: a key the boxes trust, an ssh_config naming the relay (on the lab LAN at
    ``relay_address``) and, once it has enrolled, the edge (its tunnel address, ProxyJump the relay: its sshd
    listens on the tunnel only), and provisioning/rollout.py run with an inventory of them."""

    def __init__(self, workdir: Path, relay_address: str) -> None:
        workdir.mkdir()
        self.workdir, self.relay_address = workdir, relay_address
        self.key = workdir / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "operator", "-f", str(self.key)],
                       check=True)
        self.config = workdir / "ssh_config"
        self.write_config(edge_tunnel_address=None)

    @property
    def public_key(self) -> Path:
        return self.key.with_suffix(".pub")

    def write_config(self, edge_tunnel_address: str | None) -> None:
        common = (f"    User root\n    IdentityFile {self.key}\n    BatchMode yes\n    StrictHostKeyChecking no\n"
                  "    UserKnownHostsFile /dev/null\n    LogLevel ERROR\n    ConnectTimeout 30\n")
        text = f"Host relay\n    HostName {self.relay_address}\n{common}"
        if edge_tunnel_address:
            text += f"\nHost edge\n    HostName {edge_tunnel_address}\n    ProxyJump relay\n{common}"
        self.config.write_text(text)

    def ssh(self, name: str, command: str, stdin: str | None = None, timeout: float = 300
            ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on ``name``. A connection that never reached the command (a guest under TCG on a busy
        host can take longer than ConnectTimeout to send its banner) is tried again, as an operator would; a
        command that ran, or a connection that broke after it started, is not."""
        for _attempt in range(SSH_TRIES):
            proc = subprocess.run(["ssh", "-F", str(self.config), name, command], input=stdin, capture_output=True,
                                  text=True, timeout=timeout)
            if proc.returncode != 255 or not any(cause in proc.stderr for cause in NOT_CONNECTED):
                break
        return proc

    def relay_state(self) -> dict[str, list]:
        proc = self.ssh("relay", RELAY_STATE)
        assert proc.returncode == 0, proc.stderr
        state: dict[str, list] = json.loads(proc.stdout)
        return state

    def rollout(self, version: str, inventory: str, device: str, boot_timeout: float, *args: str
                ) -> tuple[int, dict[str, object], float]:
        """rollout.py with ``inventory`` (a pyinfra inventory's text; ``SSH_CONFIG`` in it stands for this
        operator's ssh_config): its exit status, ``device``'s entry in the report, the wall time."""
        path = self.workdir / "inventory.py"
        path.write_text(inventory.replace("SSH_CONFIG", repr(str(self.config))))
        rc, entry, seconds = rollout(path, version, self.workdir / f"rollout-{version}.json", boot_timeout, *args)
        assert entry["device"] == device, entry
        return rc, entry, seconds


_LINE = re.compile(r"GUARDIAN-AB (\w[\w-]*) ?(.*)")
_FIELD = re.compile(r"([\w-]+)=(\S*)")


def report_lines(console: str) -> list[tuple[str, dict[str, str]]]:
    """ab-step.sh's lines as (kind, fields): ("boot", {"version": ...}), ("update", {"source": ...}), ..."""
    lines = []
    for match in _LINE.finditer(console):
        lines.append((match.group(1), dict(_FIELD.findall(match.group(2)))))
    return lines


_KERNEL_START = re.compile(r"Command line:.*?usrhash=([0-9a-f]{12})")


def kernel_starts(console: str) -> list[tuple[str, bool]]:
    """Each kernel start as (its /usr: the first 12 digits of its usrhash=, as ab-step.sh reports them; whether
    that boot ended in a kernel panic): every boot, also those of a version whose health check rebooted it
    before ab-step.sh ran, and those the kernel's panic=10 rebooted."""
    starts = list(_KERNEL_START.finditer(console))
    ends = [m.start() for m in starts[1:]] + [len(console)]
    return [(m.group(1), KERNEL_PANIC in console[m.start():end]) for m, end in zip(starts, ends, strict=True)]


def kernel_panics(console: str) -> int:
    return sum(panicked for _, panicked in kernel_starts(console))


def assert_tried_three_times_then_back(console: str, flashed: str, good: str) -> None:
    """The kernel starts of a box flashed with ``flashed``, updated to ``good``, then given a version that never
    got healthy: flashed, good, the bad version three times (systemd-boot's tries), good again by itself.

    Multi-threaded TCG sometimes panics a kernel seconds into its boot (see ``booted``); the image's panic=10
    reboots it. Such a start of the flashed or good version is left out (it boots again, as a box in the field
    would); one of the bad version stays in: systemd-boot counted it as a try before starting the kernel."""
    kernels = [usr for usr, panicked in kernel_starts(console) if not (panicked and usr in (flashed, good))]
    assert len(kernels) == 6 and kernels[:2] == [flashed, good] and kernels[5] == good, kernels
    assert len(set(kernels[2:5])) == 1 and kernels[2] not in (flashed, good), kernels
