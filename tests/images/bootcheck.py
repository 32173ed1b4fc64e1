"""Boot an appliance image (systemd-nspawn or QEMU) with the boot-check credentials and parse its report.

The check (tests/images/boot-check.sh + guardian-boot-check.service) is delivered as system
credentials, so the image under test is the one that ships: nothing is added to it.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian"))
OUT = Path(os.environ.get("GUARDIAN_IMAGES_OUT", CACHE / "images" / "out"))
CHECK_SCRIPT = HERE / "boot-check.sh"
CHECK_UNIT = HERE / "guardian-boot-check.service"
# The container's link: a static address, online without carrier (nothing serves DHCP on the host side).
NSPAWN_NETWORK = HERE / "nspawn-host0.network"
_boots = itertools.count()


@dataclass
class BootReport:
    console: str
    end_rc: int | None = None
    units: dict[str, str] = field(default_factory=dict)
    ready_us: dict[str, int] = field(default_factory=dict)
    # Units reached before any agent starts (basic.target): the same boot's baseline.
    baseline_us: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    exposure: dict[str, tuple[float, str]] = field(default_factory=dict)
    firstboot: str | None = None
    firstboot_status: str = ""
    uptime_s: float | None = None
    # The full boot test's end-to-end step (tests/images/e2e-ROLE.sh): its key=value lines.
    e2e: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.end_rc is not None

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.console.splitlines()[-n:])


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_report(console: str) -> BootReport:
    report = BootReport(console=_ANSI.sub("", console))
    for line in report.console.splitlines():
        line = line.strip()
        if "GUARDIAN-CHECK-END" in line:
            report.end_rc = int(line.rsplit("rc=", 1)[1].split()[0])
            continue
        if "GUARDIAN-CHECK " not in line:
            continue
        body = line.split("GUARDIAN-CHECK ", 1)[1]
        if body.startswith("e2e "):
            report.e2e.append(body[4:])
        elif m := re.match(r"baseline unit=(\S+) ready_us=(\d+)", body):
            report.baseline_us[m[1]] = int(m[2])
        elif m := re.match(r"unit=(\S+) active=(\S+) ready_us=(\d*)", body):
            report.units[m[1]] = m[2]
            if m[3]:
                report.ready_us[m[1]] = int(m[3])
        elif m := re.match(r"failed=(\S+)", body):
            report.failed.append(m[1])
        elif m := re.match(r"security unit=(\S+) exposure=([0-9.]+) level=(\S+)", body):
            report.exposure[m[1]] = (float(m[2]), m[3])
        elif m := re.match(r"firstboot=(\S+) status=(.*)", body):
            report.firstboot = m[1]
            report.firstboot_status = m[2]  # the rest of the line, as written
        elif m := re.match(r"agents=\d+ uptime=([0-9.]+)", body):
            report.uptime_s = float(m[1])
    return report


def build_image(role: str, fmt: str = "directory") -> Path:
    """Build (incrementally) and return the image: a directory, or the .raw disk."""
    subprocess.run([str(ROOT / "scripts" / "build-image.sh"), role, f"--format={fmt}"], check=True)
    return OUT / (f"guardian-{role}-dir" if fmt == "directory" else f"guardian-{role}.raw")


def boot_nspawn(
    directory: Path,
    *,
    credentials: dict[str, str] | None = None,
    bind_ro: Sequence[tuple[Path, str]] = (),
    kernel_args: Sequence[str] = (),
    timeout: float = 600,
) -> BootReport:
    """Boot ``directory`` in a throw-away overlay (--volatile=overlay) and return the check's report.

    Flags as FACTS.md says for a host without systemd as PID 1.
    """
    with tempfile.TemporaryDirectory(prefix="guardian-nspawn-") as tmp:
        cmd = [
            "systemd-nspawn", "-q", "--register=no", "--keep-unit", "--console=read-only",
            "--volatile=overlay",
            # Its own network namespace with one link (host0, veth): the agents' loopback ports (metrics
            # 9464-9467) must not meet the host's or another run's container, and the boot must see a
            # network as an appliance does (or systemd-networkd-wait-online fails). The unique machine
            # name keeps the host-side veth names of parallel runs apart.
            "--network-veth", f"--machine=gtest{os.getpid() % 100000}x{next(_boots)}",
            f"--load-credential=network.network.10-host0:{NSPAWN_NETWORK}",
            f"--load-credential=guardian.bootcheck:{CHECK_SCRIPT}",
            f"--load-credential=systemd.extra-unit.guardian-boot-check.service:{CHECK_UNIT}",
        ]
        for name, value in (credentials or {}).items():
            path = Path(tmp) / name
            path.write_text(value)
            cmd.append(f"--load-credential={name}:{path}")
        for src, dest in bind_ro:
            cmd.append(f"--bind-ro={src}:{dest}")
        cmd += ["-bD", str(directory), "systemd.wants=guardian-boot-check.service", *kernel_args]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, cwd=tmp)
    return parse_report(proc.stdout.decode(errors="replace"))
