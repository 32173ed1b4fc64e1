"""scripts/personalise-image.sh on a real GPT disk with a real FAT ESP (built here with sfdisk and
mkfs.vfat, no loop devices), read back with mtools as the appliance's first boot reads it."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from guardian.contracts import enrol_slot
from tests.images import esp_disk
from tests.images.bootcheck import ROOT

SCRIPT = ROOT / "scripts" / "personalise-image.sh"
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("sfdisk", "mkfs.vfat", "mcopy", "mtype")),
    reason="scripts/setup.d/60-images.sh installs fdisk, dosfstools and mtools",
)


@pytest.fixture
def generic(tmp_path: Path) -> Path:
    disk = tmp_path / "generic.raw"
    with disk.open("wb") as f:
        f.truncate(300 * 1024 * 1024)
    subprocess.run(["sfdisk", "-q", str(disk)], input=f"label: gpt\nstart=2048, size=524288, type={ESP_TYPE}\n".encode(), check=True)
    # Like the image's ESP (systemd-repart: FAT32, 256 MiB, 512-byte sectors; mkosi SectorSize=512).
    esp = tmp_path / "esp.img"
    subprocess.run(["mkfs.vfat", "-C", "-F", "32", "-S", "512", str(esp), str(256 * 1024)], check=True, capture_output=True)
    subprocess.run(["dd", f"if={esp}", f"of={disk}", "bs=512", "seek=2048", "conv=notrunc,sparse", "status=none"], check=True)
    return disk


def _read_enrol(disk: Path) -> str:
    proc = subprocess.run(
        ["mtype", "-i", f"{disk}@@{2048 * 512}", "::/guardian/enrol.conf"],
        capture_output=True, check=True, env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"},
    )
    return proc.stdout.decode()


def test_writes_the_enrolment_file_into_a_copy(generic: Path, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    before = generic.read_bytes()
    out = tmp_path / "device.raw"
    subprocess.run(
        [str(SCRIPT), str(generic), str(out), "--relay", "relay.example:8443", "--token-file", str(token),
         "--address", "192.168.1.20/24", "--gateway", "192.168.1.1"],
        check=True, capture_output=True,
    )
    conf = _read_enrol(out)
    assert "GUARDIAN_RELAY_ENDPOINT=relay.example:8443" in conf
    assert "GUARDIAN_BOOTSTRAP_TOKEN=tok-123" in conf
    assert "GUARDIAN_ADDRESS=192.168.1.20/24" in conf
    assert generic.read_bytes() == before, "the generic image must not change"


def test_rejects_a_config_without_token(generic: Path, tmp_path: Path) -> None:
    conf = tmp_path / "enrol.conf"
    conf.write_text("GUARDIAN_RELAY_ENDPOINT=relay.example:8443\n")
    proc = subprocess.run([str(SCRIPT), str(generic), str(tmp_path / "o.raw"), "--config", str(conf)], capture_output=True)
    assert proc.returncode == 65
    assert b"GUARDIAN_BOOTSTRAP_TOKEN" in proc.stderr
    assert not (tmp_path / "o.raw").exists()


def test_refuses_an_image_without_esp(tmp_path: Path) -> None:
    disk = tmp_path / "plain.raw"
    with disk.open("wb") as f:
        f.truncate(8 * 1024 * 1024)
    subprocess.run(["sfdisk", "-q", str(disk)], input=b"label: gpt\nstart=2048, type=linux\n", check=True)
    token = tmp_path / "t"
    token.write_text("x")
    proc = subprocess.run(
        [str(SCRIPT), str(disk), str(tmp_path / "o.raw"), "--relay", "r:1", "--token-file", str(token)], capture_output=True
    )
    assert proc.returncode != 0
    assert b"no ESP" in proc.stderr


def test_carries_a_private_relay_ca(generic: Path, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123")
    ca = tmp_path / "ca.pem"
    pem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    ca.write_text(pem)
    out = tmp_path / "device.raw"
    subprocess.run(
        [str(SCRIPT), str(generic), str(out), "--relay", "10.0.0.1:8443", "--token-file", str(token), "--relay-ca", str(ca)],
        check=True, capture_output=True,
    )
    lines = dict(line.split("=", 1) for line in _read_enrol(out).splitlines() if "=" in line and not line.startswith("#"))
    assert base64.b64decode(lines["GUARDIAN_RELAY_CA"]).decode() == pem
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    proc = subprocess.run(
        [str(SCRIPT), str(generic), str(tmp_path / "o.raw"), "--relay", "r:1", "--token-file", str(token), "--relay-ca", str(bad)],
        capture_output=True,
    )
    assert proc.returncode == 65 and b"--relay-ca" in proc.stderr


# --- images with the enrolment slot (guardian/contracts/enrol_slot.py) -----------------------------------

def _differing_runs(a: bytes, b: bytes) -> list[tuple[int, int]]:
    """(start, end) of the 512-byte blocks where two equally long images differ, merged."""
    runs: list[tuple[int, int]] = []
    for block in range(0, len(a), 512):
        if a[block:block + 512] != b[block:block + 512]:
            if runs and runs[-1][1] == block:
                runs[-1] = (runs[-1][0], block + 512)
            else:
                runs.append((block, block + 512))
    return runs


def test_the_image_builds_slot_file_is_the_generic_slot() -> None:
    assert esp_disk.SLOT_FILE.read_bytes() == enrol_slot.generic_slot()
    assert "CopyFiles=/usr/lib/guardian/enrol-slot.conf:/guardian/enrol.conf" in (
        ROOT / "mkosi.profiles" / "edge" / "mkosi.repart" / "00-esp.conf").read_text()


def test_writes_the_slot_in_place_and_leaves_the_rest(tmp_path: Path) -> None:
    generic = esp_disk.esp_disk(tmp_path / "generic.raw", data=esp_disk.random_data(1 << 20))
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    out = tmp_path / "device.raw"
    proc = subprocess.run([str(SCRIPT), str(generic), str(out), "--relay", "relay.example:8443", "--token-file", str(token)],
                          check=True, capture_output=True, text=True)
    assert "enrolment slot" in proc.stdout
    conf = enrol_slot.render_conf("relay.example:8443", "tok-123")
    assert esp_disk.read_enrol(out) == enrol_slot.render_slot(conf), "first boot reads the settings, padded to the slot"
    before, after = generic.read_bytes(), out.read_bytes()
    with generic.open("rb") as f:
        (start, length), = enrol_slot.locate(f).extents
    changed = _differing_runs(before, after)
    assert changed and all(start <= a and b <= start + length for a, b in changed), "only the slot's bytes change: FAT as built"
    assert enrol_slot.locate(out.open("rb")).extents == ((start, length),), "a personalised image keeps its slot"


@pytest.mark.parametrize("fat", [16, 32])
def test_follows_a_fragmented_slot(tmp_path: Path, fat: int) -> None:
    generic = esp_disk.esp_disk(tmp_path / "generic.raw", esp_mib=40 if fat == 32 else 32, fat=fat, cluster_sectors=1,
                                fragment=True)
    with generic.open("rb") as f:
        assert len(enrol_slot.locate(f).extents) == 2, "the fixture should split the slot around b.txt"
    conf = tmp_path / "enrol.conf"
    conf.write_text("GUARDIAN_RELAY_ENDPOINT=10.0.0.1:8443\nGUARDIAN_BOOTSTRAP_TOKEN=" + "t" * 3000 + "\n")
    out = tmp_path / "device.raw"
    subprocess.run([str(SCRIPT), str(generic), str(out), "--config", str(conf)], check=True, capture_output=True)
    assert esp_disk.read_enrol(out) == enrol_slot.render_slot(conf.read_bytes())
    assert esp_disk.mtools("mtype", "-i", f"{out}@@{esp_disk.ESP_START * 512}", "::/b.txt") == b"b" * 512


def test_refuses_settings_that_do_not_fit_the_slot(tmp_path: Path) -> None:
    generic = esp_disk.esp_disk(tmp_path / "generic.raw")
    conf = tmp_path / "enrol.conf"
    conf.write_text("GUARDIAN_RELAY_ENDPOINT=10.0.0.1:8443\nGUARDIAN_BOOTSTRAP_TOKEN=" + "t" * enrol_slot.SLOT_SIZE + "\n")
    proc = subprocess.run([str(SCRIPT), str(generic), str(tmp_path / "o.raw"), "--config", str(conf)], capture_output=True)
    assert proc.returncode == 65
    assert b"do not fit" in proc.stderr
    assert not (tmp_path / "o.raw").exists() and not (tmp_path / "o.raw.partial").exists()


def test_renders_with_the_clouds_renderer_whatever_the_options(tmp_path: Path) -> None:
    """One renderer (enrol_slot.py): every option, the token on stdin, and an operator's own file (CRLF, no
    final newline, an old CA) given a private relay CA end up as the cloud's download writes them."""
    generic = esp_disk.esp_disk(tmp_path / "generic.raw")
    ca = tmp_path / "ca.pem"
    pem = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    ca.write_bytes(pem)
    out = tmp_path / "device.raw"
    subprocess.run([str(SCRIPT), str(generic), str(out), "--relay", "relay.example:8443", "--token-file", "-",
                    "--address", "192.168.1.20/24", "--gateway", "192.168.1.1", "--dns", "192.168.1.2", "--relay-ca", str(ca)],
                   input=b"tok-123\n\n", check=True, capture_output=True)
    conf = enrol_slot.render_conf("relay.example:8443", "tok-123", address="192.168.1.20/24", gateway="192.168.1.1",
                                  dns="192.168.1.2", relay_ca_pem=pem)
    assert esp_disk.read_enrol(out) == enrol_slot.render_slot(conf)

    own = tmp_path / "enrol.conf"
    own.write_bytes(b"GUARDIAN_RELAY_ENDPOINT=10.0.0.1:8443\r\nGUARDIAN_RELAY_CA=b2xk\r\nGUARDIAN_BOOTSTRAP_TOKEN=tok-9")
    subprocess.run([str(SCRIPT), str(generic), str(out), "--config", str(own), "--relay-ca", str(ca)],
                   check=True, capture_output=True)
    expected = enrol_slot.with_relay_ca(b"GUARDIAN_RELAY_ENDPOINT=10.0.0.1:8443\nGUARDIAN_BOOTSTRAP_TOKEN=tok-9", pem)
    assert expected.endswith(b"GUARDIAN_BOOTSTRAP_TOKEN=tok-9\nGUARDIAN_RELAY_CA=" + base64.b64encode(pem) + b"\n")
    assert esp_disk.read_enrol(out) == enrol_slot.render_slot(expected)
