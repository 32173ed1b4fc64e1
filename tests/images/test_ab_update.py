"""A/B image update of a relay VM with an edge attached, under QEMU (TCG, UEFI + systemd-boot): issue #19.

The relay image (its edge's own update: tests/images/test_edge_ab_update.py) is built as v1 (flashed), v2 (the
update) and, for the rollback stage, v3 (v2 with an agent that never gets READY), all published on an HTTP
origin on the host. v1 boots under QEMU on the lab LAN (a TAP device on a host bridge, tests/images/nspawnlab.py)
as an operator's relay VM: its relay.toml, TLS material and signing key as credentials, the update mirror in
front of the origin ([updates]), the operator's SSH key as ssh.authorized_keys.root. On its first boot it
refuses a badly signed and a tampered update by itself (ab-step.sh; those two sources on the LAN). The edge
image boots in systemd-nspawn on the same LAN (native speed), enrols through the relay, and an event crosses
the tunnel. Then, as in the field:

- the operator runs provisioning/rollout.py --group relays: pyinfra over SSH points guardian-updates at the
  relay's own update mirror (guardian-relay update-source) and runs systemd-sysupdate, which fetches v2
  through that mirror from the origin, then reboots it and waits for systemd-boot's verdict;
- v2 boots from the other /usr slot with the data on /var intact (a marker, the registry) and is marked good;
  the report says "updated";
- the edge, which stayed up, saw its relay go, and its event queued meanwhile is acknowledged by v2 over the same
  tunnel (v2's journal has the edge's uplink stream), with the device enrolled once, same key and address.

With GUARDIAN_AB_ROLLBACK=1, a rollout of v3 follows: it fails its health check on each of its three tries, the
box comes back on v2 by itself, and the report says "rolled-back". Figures (update size, download + apply time,
reboot-to-good, rollback time) go to $CACHE/images/ab-update/figures.json.

Budget: two incremental builds (~1.5 min each with warm caches) and one TCG run of two boots; the edge boots
in nspawn at native speed. The rollback stage adds a third build and four boots: it runs with
GUARDIAN_AB_ROLLBACK=1 until its TCG time fits the CI budget. One command outside pytest:
GUARDIAN_AB_ROLLBACK=1 .venv/bin/pytest tests/images/test_ab_update.py -s
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.images import abvm, relay_material
from tests.images.abvm import Operator
from tests.images.bootcheck import CACHE, build_image
from tests.images.nspawnlab import (
    EDGE,
    HOST,
    RELAY,
    SUBNET,
    Container,
    e2e_credentials,
    lan_bridge,
    start,
    tap_on,
    write_credential,
)
from tests.relay.release_files import ReleaseKey

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mkosi builds, nspawn and a TAP device need root"),
    pytest.mark.skipif(
        shutil.which("qemu-system-x86_64") is None, reason="scripts/setup.d/60-images.sh installs qemu"
    ),
    pytest.mark.skipif(not abvm.OVMF_CODE.exists(), reason="UEFI firmware (ovmf) missing"),
    pytest.mark.skipif(shutil.which("systemd-nspawn") is None, reason="scripts/setup.d/60-images.sh installs systemd-container"),
    # Builds and TCG boots: ~12 min on an idle machine, 25+ min on the shared one under load.
    pytest.mark.timeout(3600),
]

ROLE = "relay"
AB = CACHE / "images" / "ab-update"
# Its own output directory: the other image tests keep using theirs while this one builds versions.
OUT = AB / "out"
V1, V2, V3 = "0.1.0", "0.2.0", "0.3.0"
BOOT_TIMEOUT = 1800.0
ROLLBACK = os.environ.get("GUARDIAN_AB_ROLLBACK") == "1"
# The bad update sources v1 tries on its first boot, each on its own address of the lab LAN (ab-step.sh).
REFUSALS = {"bad-signature": f"{SUBNET}.101", "tampered": f"{SUBNET}.102"}
RELAY_MAC = "52:54:00:79:00:01"
# Bounds the edge's end-to-end step from its boot (a failure, not a figure): the relay's update and reboot
# under TCG happen while it waits.
EDGE_WAIT_S = 3000
# Run on the relay: the uplink streams this boot's relay agent opened (a line each, with the device id).
STREAMS_THIS_BOOT = "journalctl -b --no-pager -o cat -u guardian-relay.service | grep -F uplink_stream_opened"


@dataclass
class Releases:
    flashed: Path  # v1's disk image
    published: Path  # the release origin: v1, v2 (and v3), SHA256SUMS signed by the release key
    refusals: dict[str, Path]  # bad update sources: a bad signature, a tampered file
    sizes: dict[str, dict[str, object]]


def _build(version: str, pubring: Path, *mkosi_args: str) -> None:
    build_image(ROLE, "disk", version=version, out=OUT, pubring=pubring, mkosi_args=mkosi_args)


def _release(dest: Path, gpg_home: Path) -> dict[str, object]:
    return abvm.release(ROLE, OUT, dest, gpg_home)


def _copy_tree(src: Path, dest: Path) -> Path:
    shutil.copytree(
        src,
        dest,
        copy_function=lambda s, d: subprocess.run(
            ["cp", "--reflink=auto", "--sparse=always", s, d], check=True
        ),
    )
    return dest


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Releases]:
    work = tmp_path_factory.mktemp("ab-releases")
    keys = ReleaseKey(work / "release-key"), ReleaseKey(work / "other-key")
    try:
        yield _make_releases(work, *keys)
    finally:
        for key in keys:  # gpg started an agent per home directory: stop them with the keys
            key.close()


def _make_releases(work: Path, release_key: ReleaseKey, other_key: ReleaseKey) -> Releases:
    pubring = release_key.pubring
    image_dir = f"guardian-{ROLE}"
    published = work / "published"
    sizes = {}

    _build(V1, pubring)
    flashed = work / "v1.raw"
    subprocess.run(["cp", "--sparse=always", str(OUT / f"guardian-{ROLE}.raw"), str(flashed)], check=True)
    sizes[V1] = _release(published, release_key.home)
    _build(V2, pubring)
    sizes[V2] = _release(published, release_key.home)

    # The same files, SHA256SUMS signed by a key the image does not trust.
    bad_signature = _copy_tree(published, work / "bad-signature")
    other_key.sign(bad_signature / image_dir / "SHA256SUMS")
    # Correctly signed SHA256SUMS, but v2's /usr changed by one byte after signing.
    tampered = _copy_tree(published, work / "tampered")
    usr = next((tampered / image_dir).glob(f"guardian-{ROLE}_{V2}_x86-64.usr-x86-64.*.raw"))
    with usr.open("r+b") as f:
        f.seek(4096 * 10)
        byte = f.read(1)
        f.seek(4096 * 10)
        f.write(bytes([byte[0] ^ 0xFF]))
    refusals = {"bad-signature": bad_signature, "tampered": tampered}

    if ROLLBACK:
        # v3, published beside v2 (the rollouts name the version they install): v2's tree plus a drop-in that
        # keeps the relay agent from ever getting READY.
        broken = work / "broken-tree" / "usr/lib/systemd/system/guardian-relay.service.d"
        broken.mkdir(parents=True)
        (broken / "99-test-broken.conf").write_text(
            "# Test only (tests/images/test_ab_update.py): a version whose agent fails.\n"
            "[Unit]\nConditionPathExists=\n[Service]\nExecStart=\nExecStart=/bin/false\nRestart=no\n"
        )
        _build(V3, pubring, f"--extra-tree={work / 'broken-tree'}")
        sizes[V3] = _release(published, release_key.home)
    return Releases(flashed, published, refusals, sizes)


def _boots(lines: list[tuple[str, dict[str, str]]]) -> list[dict[str, str]]:
    return [fields for kind, fields in lines if kind == "boot"]


def _updates(lines: list[tuple[str, dict[str, str]]]) -> dict[str, dict[str, str]]:
    return {fields["source"]: fields for kind, fields in lines if kind == "update"}


def _e2e_line(edge: Container, prefix: str) -> str:
    return next((line for line in edge.report().e2e if line.startswith(prefix)), "")


def _uptime(line: str) -> float:
    return float(line.split("uptime=", 1)[1].split()[0])


def _relay_credentials(work: Path, operator: Operator, origin: str) -> dict[str, bytes]:
    """The relay VM as an operator starts it: relay.toml (with its update mirror in front of ``origin``), TLS
    material and signing key, its LAN address, the operator's key, and the bad sources for ab-step.sh."""
    relay_material.write(work, None, relay_material.RelayAddresses(lan=RELAY, extra_names=(), updates_origin=origin))
    credentials = {p.name: p.read_bytes() for p in (work / "cred-relay").iterdir()}
    credentials["network.network.10-lan"] = (
        f"[Match]\nMACAddress={RELAY_MAC}\n\n[Network]\nAddress={RELAY}/24\nLinkLocalAddressing=no\n").encode()
    credentials["ssh.authorized_keys.root"] = operator.public_key.read_bytes()
    credentials["guardian.abstep.refusals"] = " ".join(f"{n}={a}" for n, a in REFUSALS.items()).encode() + b"\n"
    return credentials


def _rollout(operator: Operator, version: str) -> tuple[int, dict[str, object], float]:
    """rollout.py --group relays: its exit status, the relay's entry in the report, the wall time."""
    inventory = "relays = [('relay', {'ssh_config_file': SSH_CONFIG})]\n"
    return operator.rollout(version, inventory, "relay", BOOT_TIMEOUT, "--group", "relays")


def test_a_relay_vm_refuses_bad_files_is_updated_with_its_edge_attached_and_can_fall_back(
    releases: Releases, tmp_path: Path
) -> None:
    """v1 refuses a bad signature and a tampered file; the operator's rollout (pyinfra over SSH) updates it to v2
    through its own update mirror, which boots with /var intact and is marked good, and its enrolled edge
    connects to v2 and sends on; (GUARDIAN_AB_ROLLBACK=1) a rollout of a v3 that never gets healthy is reported
    rolled back, the box back on v2 by itself."""
    AB.mkdir(parents=True, exist_ok=True)
    edge_dir = build_image("edge")
    disk, efivars = abvm.new_machine(releases.flashed, tmp_path, grow_bytes=2 * 1024**3)
    work = tmp_path / "lab"
    work.mkdir()
    operator = Operator(tmp_path / "operator", RELAY)
    figures: dict[str, object] = {"sizes": releases.sizes}
    console_path = AB / "console.log"
    console_path.unlink(missing_ok=True)
    edge: Container | None = None
    with lan_bridge() as bridge, ExitStack() as stack:
        origin = stack.enter_context(abvm.serve_sources({"origin": releases.published}, address=HOST))["origin"]
        refused: dict[str, abvm.UpdateSource] = {}
        for name, address in REFUSALS.items():
            subprocess.run(["ip", "addr", "add", f"{address}/24", "dev", bridge], check=True)
            refused |= stack.enter_context(abvm.serve_sources({name: releases.refusals[name]}, address=address,
                                                              port=abvm.UPDATE_PORT))
        credentials = _relay_credentials(work, operator, origin.url)
        tap = stack.enter_context(tap_on(bridge))
        relay = stack.enter_context(abvm.booted(
            disk, efivars, console_path, ["-netdev", f"tap,id=lan,ifname={tap},script=no,downscript=no"],
            credentials, mac=RELAY_MAC))
        try:
            # Boot 1: v1, flashed. The box itself refuses a bad signature and a tampered file.
            console = relay.wait_for("GUARDIAN-AB operator-ready", 1, BOOT_TIMEOUT)
            lines = abvm.report_lines(console)
            _refused_by_v1(lines, console, refused)
            edge = _attach_an_edge(work, bridge, edge_dir)
            _updated_with_the_edge_attached(operator, edge, origin, figures)
            if ROLLBACK:
                # v3 never gets healthy: tried three times (its health check reboots it), marked bad by
                # systemd-boot's counter, and the box comes back on v2 by itself; the rollout says so.
                rc, entry, seconds = _rollout(operator, V3)
                assert (rc, entry["result"]) == (1, "rolled-back"), entry
                assert f"rolled back to {V2}" in str(entry["detail"]), entry
                figures["rollback_seconds_reboot_to_v2"] = abvm.seconds_in(str(entry["detail"]),
                                                                         r"rolled back to \S+ (\d+) s")
                figures["rollout_v3_wall_s"] = round(seconds, 1)
                booted = operator.ssh("relay", ". /usr/lib/os-release; echo $IMAGE_VERSION")
                assert booted.stdout.strip() == V2, booted
            operator.ssh("relay", "systemctl poweroff")
            relay.wait(timeout=600)
            figures["qemu_starts"] = relay.starts
        finally:
            if edge is not None:
                edge.wait(0)
                print("===== the edge's end-to-end lines =====\n" + "\n".join(edge.report().e2e))
    console = console_path.read_text(errors="replace")
    lines = abvm.report_lines(console)
    boots = _boots(lines)
    first, second = boots[0], boots[1]
    marker = next(fields["marker"] for kind, fields in lines if kind == "seeded")
    assert first["version"] == V1 and first["usr"] == "/dev/mapper/usr:erofs" and first["health"] == "active", first
    assert second["version"] == V2, second
    assert second["marker"] == marker and second["usrhash"] != first["usrhash"], boots
    assert second["health"] == "active" and second["blessed"] == "good", second
    figures["v2_boot_to_healthy_s_since_kernel"] = int(second["healthy_us"]) / 1e6
    # A kernel panic reboots the box (the UKI's panic=10) instead of hanging it.
    assert {fields["panic"] for fields in boots} == {"10"}, boots
    figures["kernel_panics"] = abvm.kernel_panics(console)
    if ROLLBACK:
        # v3's health check rebooted it before the A/B step could report: the kernel's command lines tell its tries.
        abvm.assert_tried_three_times_then_back(console, first["usrhash"], second["usrhash"])
        back = boots[-1]
        assert back["version"] == V2 and back["marker"] == marker and back["health"] == "active", boots
        final_layout = [fields for kind, fields in lines if kind == "layout"][-1]
        assert f"guardian-{ROLE}_{V3}_x86-64+0-3.efi" in final_layout["ukis"], final_layout
    else:
        assert len(boots) == 2, boots
    (AB / "figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


def _attach_an_edge(work: Path, bridge: str, edge_dir: Path) -> Container:
    """The edge image in nspawn on the LAN: it enrols through the relay (v1), its first event and a "ready" one
    are acknowledged, then it stays up until it has seen its relay go and come back (e2e-edge.sh,
    credential guardian.bootcheck.relay-replaced)."""
    _, edge_files = e2e_credentials(work, EDGE_WAIT_S)
    edge_files["guardian.bootcheck.relay-replaced"] = write_credential(work / "relay-replaced", "yes\n")
    edge = start("edge", edge_dir, work, bridge, edge_files, EDGE)
    abvm.until("the edge's events acknowledged by v1", lambda: "acked=yes" in _e2e_line(edge, "ready ")
           or not edge.alive(), 900)
    assert "acked=yes" in _e2e_line(edge, "ready "), edge.tail()
    return edge


def _refused_by_v1(lines: list[tuple[str, dict[str, str]]], console: str,
                   refused: dict[str, abvm.UpdateSource]) -> None:
    first = _boots(lines)[0]
    assert first["version"] == V1, first
    # First boot made slot B (empty) next to the flashed slot A.
    layout = next(fields for kind, fields in lines if kind == "layout")
    assert layout["slots"] == f"_empty,_empty,guardian-{ROLE}_{V1},guardian-{ROLE}_{V1}_verity,", layout
    updates = _updates(lines)
    bad = updates["bad-signature"]
    assert bad["rc"] != "0", bad
    assert "DOWNLOAD INVALID: Signature verification failed" in console, console[-3000:]
    assert bad["slots"] == layout["slots"] and bad["ukis"] == layout["ukis"], bad
    # Refused on the signature: nothing but SHA256SUMS and its signature was fetched.
    assert refused["bad-signature"].requests, "v1 never asked the badly signed source"
    assert all(p.rsplit("/", 1)[-1].startswith("SHA256SUMS") for p in refused["bad-signature"].requests), \
        refused["bad-signature"].requests
    tampered = updates["tampered"]
    assert tampered["rc"] != "0", tampered
    assert "file did not check out, file has been tampered with" in console, console[-3000:]
    # No slot labelled with v2 and no v2 UKI: the free slot never became a bootable version.
    assert tampered["slots"] == layout["slots"] and tampered["ukis"] == layout["ukis"], tampered


def _updated_with_the_edge_attached(operator: Operator, edge: Container, origin: abvm.UpdateSource,
                                    figures: dict[str, object]) -> None:
    state = operator.relay_state()
    devices = state["devices"]
    [(device_id, _, _, revoked)] = devices
    assert revoked is None
    held_by_v1 = set(state["events"])
    assert len(held_by_v1) == 2, state  # the edge's first event and its "ready" one

    # The operator rolls v2 out: pyinfra over SSH points guardian-updates at the relay's own mirror, runs
    # systemd-sysupdate, reboots, and waits for the verdict of systemd-boot's boot assessment.
    rc, entry, seconds = _rollout(operator, V2)
    assert (rc, entry["result"]) == (0, "updated"), entry
    detail = str(entry["detail"])
    figures["update_seconds"] = abvm.seconds_in(detail, rf"image {V2} installed in ([\d.]+) s")
    figures["rollout_v2_wall_s"] = round(seconds, 1)
    figures["reboot_to_marked_good_s"] = abvm.seconds_in(detail, r"marked good (\d+) s after the reboot")
    # Through the relay's own mirror: it fetched each of v2's files from the origin once.
    v2_files = [p for p in origin.requests if f"_{V2}_" in p]
    assert len(v2_files) == 3 and len(set(v2_files)) == 3, origin.requests
    hosts = operator.ssh("relay", "grep guardian-updates /etc/hosts")
    assert hosts.stdout.strip() == "10.77.0.1 guardian-updates", hosts

    # The edge stayed up: it saw the relay go, and the event it queued meanwhile is acknowledged by v2, whose
    # agent (this boot's) has the edge's uplink stream.
    abvm.until("the edge's event after the update", lambda: _e2e_line(edge, "after_replacement ") or not edge.alive(),
           900)
    after = _e2e_line(edge, "after_replacement ")
    assert "acked=yes" in after, edge.tail()
    gone = _e2e_line(edge, "relay_gone=yes")
    assert gone, edge.tail()
    # How long the edge was without its relay: from its noticing the relay go to v2's acknowledgement.
    figures["edge_without_relay_s"] = round(_uptime(after) - _uptime(gone), 1)
    streams = operator.ssh("relay", STREAMS_THIS_BOOT)
    assert device_id in streams.stdout, (streams.stdout, streams.stderr)
    event_id = after.split("event=", 1)[1].split()[0]
    state = operator.relay_state()
    # One device, enrolled once, same key and tunnel address; v1's events kept, the new one added.
    assert state["devices"] == devices, state
    assert set(state["events"]) == held_by_v1 | {event_id}, state

    # A second rollout of the same version finds it running: unchanged, nothing rebooted.
    rc, entry, _ = _rollout(operator, V2)
    assert (rc, entry["result"]) == (0, "unchanged"), entry
