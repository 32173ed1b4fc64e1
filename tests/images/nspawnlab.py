"""The relay and edge images booted side by side in systemd-nspawn on one LAN (a host bridge), next to a cloud
lab on the host: the full chain at native speed, where QEMU here has only TCG (every float32 inference of the
detector takes minutes of software floating point there; see tests/images/test_qemu_boot.py).

The containers boot the images' directory builds (the same mkosi configuration as the disk images) in
throw-away overlays, with the relay and edge material of the QEMU boot (tests/images/relay_material.py) and
the boot check with its end-to-end steps (tests/images/e2e-ROLE.sh, mode "cloud"). Addresses on the LAN
10.79.0.0/24: the host (cloud and camera) .254, the relay .1, the edge .2. WireGuard runs as in the images
(wireguard-go on /dev/net/tun, which nspawn gives every container); each container has its own network
namespace, so the edge's only way to the cloud is its tunnel through the relay.

What differs from a flashed box, and why: the edge's enrolment settings come as the system credential
``guardian.enrol`` (the same enrol.conf the personalised download carries, rendered by the same
guardian.contracts.enrol_slot.render_conf) because a container has no ESP block device for first boot to
read; its address is a network credential for the container's link (host0, a veth, which the image's
first-boot static config for physical ports does not match).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from guardian.contracts.enrol_slot import render_conf
from tests.images import relay_material
from tests.images.bootcheck import HERE, BootReport, nspawn_command, parse_report

SUBNET = "10.79.0"
HOST, RELAY, EDGE = f"{SUBNET}.254", f"{SUBNET}.1", f"{SUBNET}.2"


@contextmanager
def lan_bridge() -> Iterator[str]:
    """A host bridge with the host's address on it; the containers' veths join it. Removed after."""
    name = f"gtlan{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{HOST}/24", "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


@contextmanager
def tap_on(bridge: str) -> Iterator[str]:
    """A TAP device on the bridge, for a QEMU guest on the lab LAN (``-netdev tap,ifname=NAME``). Removed after."""
    name = f"gttap{os.getpid() % 100000}"
    subprocess.run(["ip", "tuntap", "add", "dev", name, "mode", "tap"], check=True)
    try:
        subprocess.run(["ip", "link", "set", name, "master", bridge, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


@dataclass
class Container:
    role: str
    proc: subprocess.Popen[bytes]
    console: Path
    _log: IO[bytes]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def report(self) -> BootReport:
        return parse_report(self.console.read_text(errors="replace"))

    def tail(self, n: int = 60) -> str:
        return f"--- {self.role} ---\n" + self.report().tail(n)

    def wait(self, timeout: float) -> None:
        """Until the container has powered off (its boot check does, once its end-to-end step is done or has
        given up), else stop it: SIGTERM asks nspawn for an orderly shutdown, SIGKILL ends it."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def _host0(path: Path, address: str) -> Path:
    path.write_text(f"""# The container's link on the lab LAN (tests/images/nspawnlab.py)
[Match]
Name=host0

[Network]
Address={address}/24
LinkLocalAddressing=no
""")
    return path


def start(role: str, directory: Path, work: Path, bridge: str, files: dict[str, Path], address: str, *,
          volatile: bool = True, name: str | None = None) -> Container:
    """Boot ``directory`` on the bridge at ``address`` with the credentials ``files``; its console goes to
    ``work/NAME.console.log`` (NAME: ``name`` or the role). See bootcheck.nspawn_command for ``volatile``."""
    name = name or role
    creds = work / f"creds-{name}"
    creds.mkdir(exist_ok=True)
    cmd = nspawn_command(directory, creds, credential_files=files, bridge=bridge,
                         host0_network=_host0(work / f"{role}.network", address), volatile=volatile)
    console = work / f"{name}.console.log"
    log = console.open("wb")
    (work / f"{name}.start").write_text(f"{time.time()}\n")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=creds)
    return Container(role, proc, console, log)


@contextmanager
def boot_relay_and_edge(lab_dir: Path, relay_dir: Path, edge_dir: Path, bridge: str, *,
                        wait_s: int, updates_origin: str | None = None) -> Iterator[tuple[Container, Container]]:
    """Boot the relay, then the edge, for the cloud lab in ``lab_dir`` (tests/images/cloudlab.py, started with
    host=HOST and relay_lan=RELAY). Their end-to-end steps wait ``wait_s`` seconds from boot for the camera's
    first event; the containers are stopped after. With ``updates_origin`` (releases published there, seen from
    the relay), the relay's update mirror serves them and the edge then fetches an update through its tunnel
    (e2e-edge.sh)."""
    work = lab_dir / "nspawn"
    work.mkdir()
    relay_material.write(work, lab_dir, relay_material.RelayAddresses(
        lan=RELAY, cloud_url=f"http://{HOST}:{_lab_port(lab_dir)}", media_url=f"https://{RELAY}:8443", extra_names=(),
        updates_origin=updates_origin))
    extra = {"guardian.bootcheck.mode": write_credential(work / "mode", "cloud\n")}
    if updates_origin:
        extra["guardian.bootcheck.update"] = write_credential(work / "update", "through-the-relay\n")
    relay_files, edge_files = e2e_credentials(work, wait_s, extra)
    started: list[Container] = []
    # On success the containers power off by themselves (the relay once the edge's event has been forwarded);
    # after a failure they are stopped at once.
    grace = 0.0
    try:
        started.append(start("relay", relay_dir, work, bridge, relay_files, RELAY))
        started.append(start("edge", edge_dir, work, bridge, edge_files, EDGE))
        (lab_dir / "edge.start").write_text((work / "edge.start").read_text())
        yield started[0], started[1]
        grace = 180.0
    finally:
        for container in reversed(started):
            container.wait(grace)


def _lab_port(lab_dir: Path) -> int:
    return int(json.loads((lab_dir / "lab.json").read_text())["cloud_port"])


def e2e_credentials(work: Path, wait_s: int, extra: dict[str, Path] | None = None
                    ) -> tuple[dict[str, Path], dict[str, Path]]:
    """The relay's and the edge's credentials for a boot with their end-to-end steps (e2e-ROLE.sh), once
    relay_material.write(work, ...) has run: the relay's material, the edge's enrol.conf (the personalised
    download's: relay endpoint, token, relay CA, rendered by render_conf), the bound ``wait_s`` (seconds from
    boot) and ``extra`` for both."""
    common = {"guardian.bootcheck.wait": write_credential(work / "wait", f"{wait_s}\n"), **(extra or {})}
    relay_files = {p.name: p for p in (work / "cred-relay").iterdir()}
    relay_files |= common | {"guardian.bootcheck.e2e": HERE / "e2e-relay.sh"}
    enrol = render_conf(f"{RELAY}:8443", (work / "token").read_text().strip(),
                        relay_ca_pem=(work / "relay-ca.pem").read_bytes())
    edge_files = common | {"guardian.bootcheck.e2e": HERE / "e2e-edge.sh",
                           "guardian.enrol": write_credential(work / "enrol.conf", enrol)}
    return relay_files, edge_files


# Ends the hold of held_until_the_test_is_done: the test runs this in the container (over the operator's SSH).
HOLD_FLAG = "/run/guardian-test-done"
HOLD_DONE = f"touch {HOLD_FLAG}"


def held_until_the_test_is_done(path: Path, test: str, seconds: int, report: str = "done") -> Path:
    """An end-to-end step (the credential guardian.bootcheck.e2e) that keeps the container up until the test runs
    HOLD_DONE in it, at most ``seconds``; then prints ``report`` (shell words) as its GUARDIAN-CHECK e2e line."""
    path.write_text(f"""#!/bin/bash
# {test}: keep this container up until the test is done (at most {seconds} s).
for _ in $(seq {seconds}); do [ -e {HOLD_FLAG} ] && break; sleep 1; done
echo "GUARDIAN-CHECK e2e {report}" >/dev/console
""")
    return path


def write_credential(path: Path, data: str | bytes) -> Path:
    """A credential file for nspawn's --load-credential, readable by root only (enrol.conf holds a token)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    return path
