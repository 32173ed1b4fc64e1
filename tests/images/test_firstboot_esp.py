"""firstboot/guardian-firstboot reading guardian/enrol.conf from a real FAT ESP with mtools, under the
image's iconv: only the glibc converters that mkosi.conf.d/10-base.conf's RemoveFiles= leaves.

mtools converts 8.3 names in codepage 850 by default (glibc's IBM850.so); the image drops that
converter, so every mtools call failed there and first boot reported "no enrolment config" for ever.
The script runs on the host with stand-ins for lsblk (the ESP as DISK@@OFFSET), guardian-edge and
systemctl; nothing outside tmp_path is touched."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.images.bootcheck import ROOT
from tests.images.test_personalise import ESP_TYPE, generic  # noqa: F401 (fixture)
from tests.images.test_personalise import SCRIPT as PERSONALISE

FIRSTBOOT = ROOT / "firstboot" / "guardian-firstboot"
GCONV = Path("/usr/lib/x86_64-linux-gnu/gconv")

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("sfdisk", "mkfs.vfat", "mcopy", "mtype", "mdel")) or not GCONV.is_dir(),
    reason="scripts/setup.d/60-images.sh installs fdisk, dosfstools and mtools (x86-64 glibc)",
)


def _image_gconv(dest: Path) -> Path:
    """The host's gconv directory minus what the image's RemoveFiles= drops."""
    text = (ROOT / "mkosi.conf.d" / "10-base.conf").read_text()
    patterns = [p.rsplit("/", 1)[1] for p in re.findall(r"^\s+(/usr/lib/x86_64-linux-gnu/gconv/\S+)", text, re.M)]
    assert patterns, "RemoveFiles= no longer names gconv modules: update this test"
    dest.mkdir()
    for f in GCONV.iterdir():
        if not any(fnmatch.fnmatchcase(f.name, p) for p in patterns):
            (shutil.copytree if f.is_dir() else shutil.copy2)(f, dest / f.name)
    return dest


def _run(tmp_path: Path, disk: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    scripts = {
        "lsblk": f'echo "/dev/vda "; echo "{disk}@@{2048 * 512} {ESP_TYPE.lower()}"',
        "guardian-edge": f'echo "guardian-edge $*" >>{log}; exit 0',
        "systemctl": f'echo "systemctl $*" >>{log}',
        "networkctl": "exit 0",
        "systemd-detect-virt": "exit 1",
    }
    for name, body in scripts.items():
        (shim / name).write_text(f"#!/bin/sh\n{body}\n")
        (shim / name).chmod(0o755)
    for d in ("state", "run", "issue"):
        (tmp_path / d).mkdir(exist_ok=True)
    env = {
        "PATH": f"{shim}:/usr/bin:/bin",
        "GCONV_PATH": str(_image_gconv(tmp_path / "gconv") if not (tmp_path / "gconv").exists() else tmp_path / "gconv"),
        "LANG": "C.UTF-8",
        "STATE_DIRECTORY": str(tmp_path / "state"),
        "RUNTIME_DIRECTORY": str(tmp_path / "run"),
        "GUARDIAN_ISSUE_DIR": str(tmp_path / "issue"),
        "GUARDIAN_CMDLINE": os.devnull,
        "GUARDIAN_WAIT_ONLINE_S": "1",
        "GUARDIAN_HOSTNAME_FILE": str(tmp_path / "hostname"),  # never the host's
        "GUARDIAN_ROOT_SSH_DIR": str(tmp_path / "root-ssh"),  # nor root's keys
    }
    proc = subprocess.run(["bash", str(FIRSTBOOT)], env=env, capture_output=True, text=True, timeout=60)
    return proc, log


def test_image_gconv_lacks_mtools_default_codepage(tmp_path: Path) -> None:
    # Guards the premise: if the image kept IBM850 this test file would prove nothing new.
    names = {p.name for p in _image_gconv(tmp_path / "g").iterdir()}
    assert "IBM850.so" not in names and "ISO8859-1.so" in names


def test_reads_the_esp_file_and_deletes_the_spent_token(generic: Path, tmp_path: Path) -> None:  # noqa: F811
    conf = tmp_path / "enrol.conf"
    conf.write_text("GUARDIAN_RELAY_ENDPOINT=10.78.0.1:8443\nGUARDIAN_BOOTSTRAP_TOKEN=tok-123\n")
    disk = tmp_path / "device.raw"
    subprocess.run([str(PERSONALISE), str(generic), str(disk), "--config", str(conf)], check=True, capture_output=True)
    proc, log = _run(tmp_path, disk)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "config from ESP file" in proc.stdout
    assert "--relay 10.78.0.1:8443" in log.read_text()
    assert (tmp_path / "state" / "enrolled").exists()
    gone = subprocess.run(["mtype", "-i", f"{disk}@@{2048 * 512}", "::/guardian/enrol.conf"],
                          capture_output=True, env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"})
    assert gone.returncode != 0, "the spent token must be deleted from the ESP"


def test_says_what_is_wrong_with_the_esp(generic: Path, tmp_path: Path) -> None:  # noqa: F811
    proc, _ = _run(tmp_path, generic)  # an ESP without guardian/enrol.conf
    assert proc.returncode == 75
    assert "no /guardian/enrol.conf on the ESP" in proc.stdout
    (tmp_path / "gconv" / "ISO8859-1.so").unlink()  # now unreadable as on the image before the fix
    proc, _ = _run(tmp_path, generic)
    assert proc.returncode == 75
    assert "cannot read the ESP" in proc.stdout and "codepage" in proc.stdout


def test_reads_a_personalised_slot_and_says_when_the_slot_is_empty(tmp_path: Path) -> None:
    from tests.images.esp_disk import esp_disk

    slotted = esp_disk(tmp_path / "slotted.raw")
    proc, _ = _run(tmp_path, slotted)  # the generic image as built: a slot of comments only
    assert proc.returncode == 75
    assert "holds no settings" in proc.stdout
    token = tmp_path / "token"
    token.write_text("tok-123")
    disk = tmp_path / "device.raw"
    subprocess.run([str(PERSONALISE), str(slotted), str(disk), "--relay", "10.78.0.1:8443", "--token-file", str(token)],
                   check=True, capture_output=True)
    proc, log = _run(tmp_path, disk)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "--relay 10.78.0.1:8443" in log.read_text()


def test_installs_the_operators_ssh_keys_and_refuses_what_is_not_a_key(generic: Path, tmp_path: Path) -> None:  # noqa: F811
    """Issue #19: the operator's public keys ride in enrol.conf (personalise-image.sh --operator-keys, as the
    cloud's download does with [edge_image] operator_ssh_keys_file); first boot adds them for root."""
    key = tmp_path / "operator"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@example", "-f", str(key)], check=True)
    keys = tmp_path / "authorized_keys"
    keys.write_text(f"# the fleet's operators\n\n{key.with_suffix('.pub').read_text()}")
    conf = tmp_path / "enrol.conf"
    conf.write_text("GUARDIAN_RELAY_ENDPOINT=10.78.0.1:8443\nGUARDIAN_BOOTSTRAP_TOKEN=tok-123\n")
    disk = tmp_path / "device.raw"
    subprocess.run([str(PERSONALISE), str(generic), str(disk), "--config", str(conf), "--operator-keys", str(keys)],
                   check=True, capture_output=True)
    ssh_dir = tmp_path / "root-ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "authorized_keys").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeep from-the-credential\n")
    proc, _ = _run(tmp_path, disk)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = (ssh_dir / "authorized_keys").read_text().splitlines()
    assert installed == ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeep from-the-credential",
                         key.with_suffix(".pub").read_text().strip()], installed
    assert (ssh_dir / "authorized_keys").stat().st_mode & 0o777 == 0o600

    # A private key by mistake: personalise-image.sh refuses it (exit 65), naming the option.
    proc2 = subprocess.run([str(PERSONALISE), str(generic), str(tmp_path / "bad.raw"), "--config", str(conf),
                            "--operator-keys", str(key)], capture_output=True, text=True)
    assert proc2.returncode == 65 and "operator SSH keys" in proc2.stderr, proc2.stderr
    # A hand-written enrol.conf whose keys are not keys: first boot says so and applies nothing.
    for d in ("state", "root-ssh"):
        shutil.rmtree(tmp_path / d)
    conf.write_text("GUARDIAN_RELAY_ENDPOINT=10.78.0.1:8443\nGUARDIAN_BOOTSTRAP_TOKEN=tok-123\n"
                    "GUARDIAN_OPERATOR_SSH_KEYS=bm90IGEga2V5Cg==\n")
    subprocess.run([str(PERSONALISE), str(generic), str(tmp_path / "bad2.raw"), "--config", str(conf)],
                   check=True, capture_output=True)
    proc3, _ = _run(tmp_path, tmp_path / "bad2.raw")
    assert proc3.returncode == 75, proc3.stdout
    assert "GUARDIAN_OPERATOR_SSH_KEYS is not base64 of SSH public keys" in proc3.stdout
    assert not (tmp_path / "root-ssh").exists()
