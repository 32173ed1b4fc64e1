"""What the A/B update test needs around QEMU: a UEFI boot (OVMF, systemd-boot, the UKIs on the ESP:
boot counting lives there, so no direct kernel boot), update sources served over HTTP from the
host and reached by the guest as fixed addresses, and the report lines of tests/images/ab-step.sh.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    mirror_port: int | None = None  # a relay's update mirror in front of this source: the guest reaches that

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@contextmanager
def serve_sources(roots: Mapping[str, Path]) -> Iterator[dict[str, UpdateSource]]:
    """One HTTP server per update source on 127.0.0.1, recording the paths the guest asked for."""
    sources = {name: UpdateSource(root) for name, root in roots.items()}
    for source in sources.values():

        class Handler(SimpleHTTPRequestHandler):
            seen = source.requests

            def log_message(self, format: str, *args: object) -> None:
                self.seen.append(self.path)

        source.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(source.root)))
        threading.Thread(target=source.server.serve_forever, daemon=True).start()
    try:
        yield sources
    finally:
        for source in sources.values():
            assert source.server is not None
            source.server.shutdown()
            source.server.server_close()


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


def boot(
    disk: Path, efivars: Path, console: Path, plan: str, sources: Mapping[str, UpdateSource], timeout: float
) -> str:
    """Boot until the guest powers off (reboots stay inside the run); returns this run's console."""
    forwards = ",".join(
        f"guestfwd=tcp:{SOURCE_ADDRESSES[name]}:{UPDATE_PORT}-cmd:{sys.executable} {HERE / 'stdio_tcp.py'} 127.0.0.1 {source.mirror_port or source.port}"
        for name, source in sources.items()
    )
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
        "1",
        "-m",
        "2048",
        "-nographic",
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
        "-netdev",
        f"user,id=lan,{forwards}",
        "-device",
        "virtio-net-pci,netdev=lan",
        "-serial",
        f"file:{console}",
        *_credential("guardian.abstep", STEP_SCRIPT.read_bytes()),
        *_credential("guardian.ab.plan", plan.encode()),
        *_credential("systemd.extra-unit.guardian-ab-step.service", STEP_UNIT.read_bytes()),
        *_credential("systemd.unit-dropin.multi-user.target", dropin),
    ]
    subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=True)
    return console.read_text(errors="replace")


_LINE = re.compile(r"GUARDIAN-AB (\w[\w-]*) ?(.*)")
_FIELD = re.compile(r"([\w-]+)=(\S*)")


def report_lines(console: str) -> list[tuple[str, dict[str, str]]]:
    """ab-step.sh's lines as (kind, fields): ("boot", {"version": ...}), ("update", {"source": ...}), ..."""
    lines = []
    for match in _LINE.finditer(console):
        lines.append((match.group(1), dict(_FIELD.findall(match.group(2)))))
    return lines
