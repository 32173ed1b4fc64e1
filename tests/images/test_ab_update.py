"""A/B image updates of an appliance under QEMU (TCG, UEFI + systemd-boot): issue #19 items 1-3.

The relay image (the smaller of the two; both carry the same layout, transfers and boot assessment)
is built three times from this tree: v1 (flashed), v2 (the update) and v3 (v2 with an agent that
never gets READY). v1 boots and refuses a badly signed and a tampered update by itself. Then the operator
rolls v2 out as in the field: provisioning/rollout.py --group relays, pyinfra over SSH (the image's
guardian-sshd.socket, the operator's key given as the credential ssh.authorized_keys.root), runs
systemd-sysupdate, which fetches through a relay's update mirror (agents/relay/update_mirror.py, run as its
own process in front of the HTTP origin, as a relay serves its edges), reboots and waits for the verdict; v2
boots from the other /usr slot with the data on /var intact and is marked good, and the report says
"updated". Then a rollout of v3: it fails its health check on each of its three tries, the box comes back
on v2 by itself, and the report says "rolled-back". Figures (update size, download + apply time,
reboot-to-good, rollback time) go to $CACHE/images/ab-update/figures.json.

Budget: two incremental builds (~1.5 min each with warm caches) and one TCG run of two boots. The rollback
stage adds a third build and four boots (three tries of v3, then v2): it runs with
GUARDIAN_AB_ROLLBACK=1 until its TCG time fits the CI budget. One command outside pytest:
GUARDIAN_AB_ROLLBACK=1 .venv/bin/pytest tests/images/test_ab_update.py -s
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.images import abvm
from tests.images.bootcheck import CACHE, build_image
from tests.relay.mirror_process import MirrorProcess
from tests.relay.release_files import ReleaseKey

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mkosi builds need root"),
    pytest.mark.skipif(
        shutil.which("qemu-system-x86_64") is None, reason="scripts/setup.d/60-images.sh installs qemu"
    ),
    pytest.mark.skipif(not abvm.OVMF_CODE.exists(), reason="UEFI firmware (ovmf) missing"),
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


@dataclass
class Releases:
    flashed: Path  # v1's disk image
    sources: dict[str, Path]  # update source name -> directory served as http://guardian-updates/
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
    good = work / "good"
    sizes = {}

    _build(V1, pubring)
    flashed = work / "v1.raw"
    subprocess.run(["cp", "--sparse=always", str(OUT / f"guardian-{ROLE}.raw"), str(flashed)], check=True)
    sizes[V1] = _release(good, release_key.home)
    _build(V2, pubring)
    sizes[V2] = _release(good, release_key.home)

    # The same files, SHA256SUMS signed by a key the image does not trust.
    bad_signature = _copy_tree(good, work / "bad-signature")
    other_key.sign(bad_signature / image_dir / "SHA256SUMS")
    # Correctly signed SHA256SUMS, but v2's /usr changed by one byte after signing.
    tampered = _copy_tree(good, work / "tampered")
    usr = next((tampered / image_dir).glob(f"guardian-{ROLE}_{V2}_x86-64.usr-x86-64.*.raw"))
    with usr.open("r+b") as f:
        f.seek(4096 * 10)
        byte = f.read(1)
        f.seek(4096 * 10)
        f.write(bytes([byte[0] ^ 0xFF]))

    trees = {"good": good, "bad-signature": bad_signature, "tampered": tampered}
    if not ROLLBACK:
        return Releases(flashed, trees, sizes)
    # v3: v2's tree plus a drop-in that keeps the relay agent from ever getting READY.
    broken = work / "broken-tree" / "usr/lib/systemd/system/guardian-relay.service.d"
    broken.mkdir(parents=True)
    (broken / "99-test-broken.conf").write_text(
        "# Test only (tests/images/test_ab_update.py): a version whose agent fails.\n"
        "[Unit]\nConditionPathExists=\n[Service]\nExecStart=\nExecStart=/bin/false\nRestart=no\n"
    )
    _build(V3, pubring, f"--extra-tree={work / 'broken-tree'}")
    broken_v3 = _copy_tree(good, work / "broken-v3")
    sizes[V3] = _release(broken_v3, release_key.home)
    return Releases(flashed, {**trees, "broken-v3": broken_v3}, sizes)


def _boots(lines: list[tuple[str, dict[str, str]]]) -> list[dict[str, str]]:
    return [fields for kind, fields in lines if kind == "boot"]


def _updates(lines: list[tuple[str, dict[str, str]]]) -> dict[str, dict[str, str]]:
    return {fields["source"]: fields for kind, fields in lines if kind == "update"}


@contextmanager
def _through_a_mirror(source: abvm.UpdateSource, tmp_path: Path) -> Iterator[MirrorProcess]:
    workdir = tmp_path / "mirror"
    workdir.mkdir()
    mirror = MirrorProcess(workdir, {"origin": source.url})
    mirror.start()
    source.mirror_port = mirror.port
    try:
        yield mirror
    finally:
        mirror.stop()
        print(f"===== update mirror log =====\n{mirror.log.read_text()[-3000:]}")


@dataclass
class Operator:
    """The operator's side: a key the guest trusts, an inventory naming the guest as a relay, and
    provisioning/rollout.py run with them, as in the field."""

    workdir: Path
    key: Path

    @classmethod
    def new(cls, workdir: Path) -> Operator:
        workdir.mkdir()
        key = workdir / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "operator", "-f", str(key)], check=True)
        return cls(workdir, key)

    @property
    def public_key(self) -> str:
        return self.key.with_suffix(".pub").read_text()

    def _config(self, machine: abvm.Machine) -> Path:
        assert machine.ssh_port is not None
        return abvm.ssh_config(self.workdir / "ssh_config", "ab-relay", machine.ssh_port, self.key)

    def inventory(self, machine: abvm.Machine) -> Path:
        config = self._config(machine)
        path = self.workdir / "inventory.py"
        path.write_text(f"relays = [('ab-relay', {{'ssh_config_file': {str(config)!r}}})]\n")
        return path

    def rollout(self, machine: abvm.Machine, version: str) -> tuple[int, dict[str, object], float]:
        """rollout.py --group relays: its exit status, the guest's entry in the report, the wall time."""
        rc, entry, seconds = abvm.rollout(self.inventory(machine), version, self.workdir / f"rollout-{version}.json",
                                          BOOT_TIMEOUT, "--group", "relays")
        assert entry["device"] == "ab-relay", entry
        return rc, entry, seconds

    def ssh(self, machine: abvm.Machine, command: str) -> subprocess.CompletedProcess[str]:
        config = self._config(machine)
        return subprocess.run(["ssh", "-F", str(config), "ab-relay", command], capture_output=True, text=True,
                              timeout=300)


def test_update_refuses_bad_files_installs_v2_and_can_fall_back(releases: Releases, tmp_path: Path) -> None:
    """v1 refuses a bad signature and a tampered file; the operator's rollout (pyinfra over SSH) updates it
    to v2, which boots with /var intact and is marked good; (GUARDIAN_AB_ROLLBACK=1) a rollout of a v3 that
    never gets healthy is reported rolled back, the box back on v2 by itself."""
    AB.mkdir(parents=True, exist_ok=True)
    disk, efivars = abvm.new_machine(releases.flashed, tmp_path, grow_bytes=2 * 1024**3)
    operator = Operator.new(tmp_path / "operator")
    figures: dict[str, object] = {"sizes": releases.sizes}
    console_path = AB / "console.log"
    console_path.unlink(missing_ok=True)
    # The good release reaches the guest through an update mirror, which caches it from its origin.
    with (
        abvm.serve_sources(releases.sources) as sources,
        _through_a_mirror(sources["good"], tmp_path) as mirror,
        abvm.running(disk, efivars, console_path, sources, operator.public_key) as machine,
    ):
        # Boot 1: v1, flashed. The box itself refuses a bad signature and a tampered file.
        console = machine.wait_for("GUARDIAN-AB operator-ready", 1, BOOT_TIMEOUT)
        lines = abvm.report_lines(console)
        first = _boots(lines)[0]
        assert first["version"] == V1, first
        assert first["usr"] == "/dev/mapper/usr:erofs", first
        assert first["health"] == "active", first
        marker = next(fields["marker"] for kind, fields in lines if kind == "seeded")
        # First boot made slot B (empty) next to the flashed slot A.
        layout = next(fields for kind, fields in lines if kind == "layout")
        assert layout["slots"] == f"_empty,_empty,guardian-{ROLE}_{V1},guardian-{ROLE}_{V1}_verity,", layout
        updates = _updates(lines)

        bad = updates["bad-signature"]
        assert bad["rc"] != "0", bad
        assert "DOWNLOAD INVALID: Signature verification failed" in console, console[-3000:]
        assert bad["slots"] == layout["slots"] and bad["ukis"] == layout["ukis"], bad
        # Refused on the signature: nothing but SHA256SUMS and its signature was fetched.
        assert all(
            p.rsplit("/", 1)[-1].startswith("SHA256SUMS") for p in sources["bad-signature"].requests
        ), sources["bad-signature"].requests

        tampered = updates["tampered"]
        assert tampered["rc"] != "0", tampered
        assert "file did not check out, file has been tampered with" in console, console[-3000:]
        # No slot labelled with v2 and no v2 UKI: the free slot never became a bootable version.
        assert tampered["slots"] == layout["slots"] and tampered["ukis"] == layout["ukis"], tampered

        # The operator rolls v2 out: pyinfra over SSH runs systemd-sysupdate, reboots, and waits for the
        # verdict of systemd-boot's boot assessment.
        rc, entry, seconds = operator.rollout(machine, V2)
        assert (rc, entry["result"]) == (0, "updated"), entry
        figures["update_seconds"] = abvm.seconds_in(str(entry["detail"]), rf"image {V2} installed in ([\d.]+) s")
        figures["rollout_v2_wall_s"] = round(seconds, 1)
        figures["reboot_to_marked_good_s"] = abvm.seconds_in(str(entry["detail"]), r"marked good (\d+) s after the reboot")
        # Through the mirror: it fetched each of v2's files from the origin once and stored it.
        v2_files = [p for p in sources["good"].requests if f"_{V2}_" in p]
        assert len(v2_files) == 3 and len(set(v2_files)) == 3, sources["good"].requests
        assert len(mirror.objects()) >= 3, mirror.objects()
        # A second rollout of the same version finds it running: unchanged, nothing rebooted.
        rc, entry, _ = operator.rollout(machine, V2)
        assert (rc, entry["result"]) == (0, "unchanged"), entry

        if ROLLBACK:
            # v3 never gets healthy: tried three times (its health check reboots it), marked bad by
            # systemd-boot's counter, and the box comes back on v2 by itself; the rollout says so.
            repoint = operator.ssh(machine, "sed -i 's/^10.0.2.100 guardian-updates$/10.0.2.103 guardian-updates/' /etc/hosts")
            assert repoint.returncode == 0, repoint.stderr
            rc, entry, seconds = operator.rollout(machine, V3)
            assert (rc, entry["result"]) == (1, "rolled-back"), entry
            assert f"rolled back to {V2}" in str(entry["detail"]), entry
            figures["rollback_seconds_reboot_to_v2"] = abvm.seconds_in(str(entry["detail"]), r"rolled back to \S+ (\d+) s")
            figures["rollout_v3_wall_s"] = round(seconds, 1)
            booted = operator.ssh(machine, ". /usr/lib/os-release; echo $IMAGE_VERSION")
            assert booted.stdout.strip() == V2, booted

        operator.ssh(machine, "systemctl poweroff")
        machine.wait(timeout=600)
        figures["qemu_starts"] = machine.starts
    console = console_path.read_text(errors="replace")
    lines = abvm.report_lines(console)
    boots = _boots(lines)
    second = boots[1]
    assert second["version"] == V2, second
    assert second["marker"] == marker, second
    assert second["health"] == "active" and second["blessed"] == "good", second
    figures["v2_boot_to_healthy_s_since_kernel"] = int(second["healthy_us"]) / 1e6
    if ROLLBACK:
        # v3's health check rebooted it before the A/B step could report: the kernel's command lines tell its tries.
        abvm.assert_tried_three_times_then_back(console, boots[0]["usrhash"], second["usrhash"])
        back = boots[-1]
        assert back["version"] == V2 and back["marker"] == marker and back["health"] == "active", boots
        final_layout = [fields for kind, fields in lines if kind == "layout"][-1]
        assert f"guardian-{ROLE}_{V3}_x86-64+0-3.efi" in final_layout["ukis"], final_layout
    (AB / "figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
