"""Image update of an appliance that runs this repo's images (a flashed edge, a relay VM), issue #19.

The box does the work itself: systemd-sysupdate fetches the version's /usr, verity and UKI (an edge
through its relay's mirror, a relay through its own), checks the release signature before writing anything
and installs them in the free A/B slot; the UKI boots with a tries counter, and systemd-boot falls back to the
version the box ran before when the new one does not get healthy (guardian-*-healthy.service before
boot-complete.target) within its tries. This deploy starts that and watches it:

1. read the running version (``IMAGE_VERSION`` in os-release); already V: nothing to do;
2. "installed": ``systemd-sysupdate update V`` (first ``guardian-updates`` is pointed at the update mirror: an
   edge's relay's, a relay's own);
3. "(else rolled back)": reboot, then reconnect until the box has settled on a version: V marked good by
   systemd-bless-boot (updated), or the previous version again (systemd-boot rolled back: the operation
   fails with "rolled back to", which fleet/wave.py reports as rolled-back), or neither within
   ``image_boot_timeout`` (failed).

Each step logs its time on the host's lines (``[host] image V installed in N s``), which the rollout
report keeps as the edge's detail.
"""

from __future__ import annotations

import shlex
import time

from paramiko import SSHException
from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import python

from tasks.common import deploy

SYSUPDATE = "/usr/lib/systemd/systemd-sysupdate"
BLESS = "/usr/lib/systemd/systemd-bless-boot"
# Probed after each reconnect; one KEY=VALUE per line (BootedImage.process).
PROBE = (
    ". /usr/lib/os-release; "
    'echo "id=${IMAGE_ID:-}"; echo "version=${IMAGE_VERSION:-}"; '
    'echo "boot_id=$(cat /proc/sys/kernel/random/boot_id)"; '
    f'echo "blessed=$({BLESS} status 2>/dev/null || echo n/a)"; '
    'echo "system=$(systemctl is-system-running 2>/dev/null)"; '
    'echo "ukis=$(ls "$(bootctl --print-boot-path 2>/dev/null || echo /efi)/EFI/Linux" 2>/dev/null | tr "\\n" " ")"'
)
# What a command over a connection the box dropped (rebooting) raises, seen as EOFError from paramiko while a
# trial version's health check rebooted it.
DROPPED = (EOFError, OSError, SSHException)
# systemctl is-system-running while the boot has not finished: no verdict yet.
BOOTING = ("initializing", "starting")


def parse_probe(lines: list[str]) -> dict[str, str]:
    return {key: value.strip() for key, _, value in (line.partition("=") for line in lines) if key}


class BootedImage(FactBase):
    """The image the host runs: ``id`` and ``version`` (empty on a host that is not one of our images),
    ``boot_id``, ``blessed`` (systemd-bless-boot: good | bad | indeterminate | clean), ``system``
    (is-system-running) and ``ukis`` (the versions' UKIs on the ESP, with their boot counters)."""

    def command(self) -> str:
        return PROBE

    def process(self, output: list[str]) -> dict[str, str]:
        return parse_probe(output)


def verdict(state: dict[str, str], version: str, previous: str) -> str | None:
    """What a probe after the reboot says: "good" (V runs, marked good), "rolled-back" (the previous version
    runs again), or None (still booting, or V on trial: its health check reboots it when it fails)."""
    if state.get("system") in BOOTING:
        return None
    if state.get("version") == version and state.get("blessed") == "good":
        return "good"
    if state.get("version") == previous:
        return "rolled-back"
    return None


def rolled_back(name: str, version: str, previous: str, seconds: float, boots: int, ukis: str) -> str:
    """The failure that fleet/wave.py reports as rolled-back ("rolled back to")."""
    return (f"{name}: image {version} did not get healthy in its tries; systemd-boot rolled back to {previous} "
            f"{seconds:.0f} s after the reboot (boots seen: {boots}; UKIs: {ukis})")


def _probe() -> dict[str, str] | None:
    """Connect if need be and read the boot state; None while the host cannot be reached."""
    try:
        if not host.connected:
            host.connect(show_errors=False)
            if not host.connected:
                return None
        ok, out = host.run_shell_command(PROBE)
    except DROPPED:  # the box went down mid-command: paramiko raises instead of failing it
        ok = False
    if not ok:
        host.disconnect()  # the box went down under us (a trial version rebooting)
        return None
    return parse_probe(out.stdout.splitlines())


@deploy("Appliance image update")
def update() -> None:
    version = host.data.guardian_version
    running = host.get_fact(BootedImage)
    if not running.get("version"):
        python.call(name="Runs a Guardian appliance image", function=_not_an_image)
        return
    if running["version"] == version:
        # An operation, not host.noop: the rollout's record (fleet/events.py) learns a host's plan from its
        # first operation, and a host with none would be reported skipped instead of unchanged.
        python.call(name=f"Image {version} running", function=host.log, message=f"image {version} already running")
        return
    previous = running["version"]
    python.call(name=f"Image {version} downloaded, verified and installed beside {previous} (systemd-sysupdate)",
                function=_install, version=version, image_id=running.get("id", ""))
    python.call(name=f"Image {version} booted, healthy and marked good (else rolled back)",
                function=_reboot_and_assess, version=version, previous=previous,
                timeout=host.data.image_boot_timeout)


UPDATE_SOURCE = {
    "guardian-edge": "guardian-edge update-source --hosts /etc/hosts && ",
    "guardian-relay": "guardian-relay update-source --hosts /etc/hosts && ",
}


def _not_an_image() -> None:
    raise DeployError(f"{host.name}: /usr/lib/os-release has no IMAGE_VERSION: not a Guardian appliance image "
                      "(Debian hosts take release updates: host data guardian_install = \"release\")")


def _install(version: str, image_id: str) -> None:
    # An edge fetches through its relay's mirror, a relay through its own: name it (the image's
    # systemd-sysupdate.service does the same before a timer-started update).
    prepare = UPDATE_SOURCE.get(image_id, "")
    started = time.monotonic()
    ok, out = host.run_shell_command(f"{prepare}{SYSUPDATE} update {shlex.quote(version)}")
    seconds = time.monotonic() - started
    if not ok:
        raise DeployError(f"{host.name}: systemd-sysupdate update {version} failed after {seconds:.1f} s: "
                          f"{(out.stderr or out.stdout)[-400:]}")
    host.log(f"image {version} installed in {seconds:.1f} s")


def _reboot_and_assess(version: str, previous: str, timeout: float, interval: float = 5.0) -> None:
    before = _probe()
    if before is None:
        raise DeployError(f"{host.name}: lost before the reboot into {version}")
    # Detached, so the SSH channel closes before the box goes down (pyinfra's server.reboot does the same).
    host.run_shell_command("( sleep 1 && systemctl reboot ) </dev/null >/dev/null 2>&1 &")
    host.disconnect()
    started = time.monotonic()
    boots: set[str] = set()  # the boot ids seen since the reboot
    last: dict[str, str] = {}
    while time.monotonic() - started < timeout:
        time.sleep(interval)
        state = _probe()
        if state is None or state.get("boot_id") == before["boot_id"]:
            continue
        last = state
        boots.add(state["boot_id"])
        result = verdict(state, version, previous)
        seconds = time.monotonic() - started
        if result == "good":
            host.log(f"image {version} healthy and marked good {seconds:.0f} s after the reboot")
            return
        if result == "rolled-back":
            raise DeployError(rolled_back(host.name, version, previous, seconds, len(boots), state.get("ukis", "")))
    raise DeployError(f"{host.name}: no verdict on image {version} within {timeout:.0f} s of the reboot "
                      f"(last seen: {last or 'unreachable'})")
