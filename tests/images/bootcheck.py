"""Boot an appliance image (systemd-nspawn or QEMU) with the boot-check credentials and parse its report.

The check (tests/images/boot-check.sh + guardian-boot-check.service) is delivered as system
credentials, so the image under test is the one that ships: nothing is added to it.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def build_image(role: str, fmt: str = "directory", *, version: str | None = None, out: Path = OUT,
                pubring: Path | None = None, mkosi_args: Sequence[str] = ()) -> Path:
    """Build (incrementally) and return the image: a directory, or the .raw disk. ``version`` overrides the
    profile's ImageVersion; give it its own ``out``, so the other image tests keep the default build.
    ``pubring``: the key the image trusts for updates (none: it accepts no update); ``mkosi_args`` go to mkosi."""
    env = {**os.environ, "GUARDIAN_IMAGES_OUT": str(out)}
    if version:
        env["GUARDIAN_IMAGE_VERSION"] = version
    if pubring:
        env["GUARDIAN_UPDATE_PUBRING"] = str(pubring)
    args = [str(ROOT / "scripts" / "build-image.sh"), role, f"--format={fmt}"]
    if mkosi_args:
        args += ["--", *mkosi_args]
    subprocess.run(args, check=True, env=env)
    return out / (f"guardian-{role}-dir" if fmt == "directory" else f"guardian-{role}.raw")


def nspawn_command(
    directory: Path,
    workdir: Path,
    *,
    credentials: dict[str, str] | None = None,
    credential_files: dict[str, Path] | None = None,
    bind_ro: Sequence[tuple[Path, str]] = (),
    kernel_args: Sequence[str] = (),
    bridge: str | None = None,
    host0_network: Path = NSPAWN_NETWORK,
    volatile: bool = True,
) -> list[str]:
    """The systemd-nspawn command that boots ``directory`` in a throw-away overlay (--volatile=overlay)
    with the boot check; ``credentials`` are written to files in ``workdir``. Flags as FACTS.md says for
    a host without systemd as PID 1. ``volatile=False`` boots the directory itself, writable: what the boot
    leaves there (its /etc and /var) is there at the next boot, as on an appliance's data partition.

    Its own network namespace with one link (host0, veth): the agents' loopback ports (metrics 9464-9467)
    must not meet the host's or another run's container, and the boot must see a network as an appliance
    does (or systemd-networkd-wait-online fails). With ``bridge`` the host side of that veth joins the
    host's bridge (a LAN shared with other containers and the host), else it stays alone. The unique
    machine name keeps the host-side veth names of parallel runs apart."""
    machine = f"gtest{os.getpid() % 100000}x{next(_boots)}"
    cmd = [
        "systemd-nspawn", "-q", "--register=no", "--keep-unit", "--console=read-only",
        *(["--volatile=overlay"] if volatile else []),
        f"--network-bridge={bridge}" if bridge else "--network-veth", f"--machine={machine}",
        f"--load-credential=network.network.10-host0:{host0_network}",
        f"--load-credential=guardian.bootcheck:{CHECK_SCRIPT}",
        f"--load-credential=systemd.extra-unit.guardian-boot-check.service:{CHECK_UNIT}",
    ]
    for name, value in (credentials or {}).items():
        path = workdir / name
        path.write_text(value)
        cmd.append(f"--load-credential={name}:{path}")
    for name, path in (credential_files or {}).items():
        cmd.append(f"--load-credential={name}:{path}")
    for src, dest in bind_ro:
        cmd.append(f"--bind-ro={src}:{dest}")
    return [*cmd, "-bD", str(directory), "systemd.wants=guardian-boot-check.service", *kernel_args]


def boot_nspawn(
    directory: Path,
    *,
    credentials: dict[str, str] | None = None,
    bind_ro: Sequence[tuple[Path, str]] = (),
    kernel_args: Sequence[str] = (),
    timeout: float = 600,
) -> BootReport:
    """Boot ``directory`` alone (see :func:`nspawn_command`) and return the check's report."""
    with tempfile.TemporaryDirectory(prefix="guardian-nspawn-") as tmp:
        cmd = nspawn_command(directory, Path(tmp), credentials=credentials, bind_ro=bind_ro, kernel_args=kernel_args)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, cwd=tmp)
    return parse_report(proc.stdout.decode(errors="replace"))


def boot_test_summary(returncode: int | None, log_path: Path) -> dict[str, Any]:
    """The summary of a ``scripts/boot-test.sh ... both`` run that must have passed: both VMs healthy with
    nothing failed and the edge's uplink active. Returns it, for the caller's checks of the end-to-end lines."""
    summary: dict[str, Any] = json.loads((CACHE / "images" / "boot-test" / "summary.json").read_text())
    assert returncode == 0, log_path.read_text(errors="replace")[-6000:]
    for role in ("relay", "edge"):
        assert summary[role]["ok"], summary[role]
        assert summary[role]["failed"] == []
    assert summary["edge"]["units"]["guardian-edge-uplink.service"] == "active"
    return summary
