"""Small GPT disks with a real FAT ESP (sfdisk, mkfs.vfat, mtools; no loop devices, no root) shaped like
the edge image: the ESP first, then data; with the enrolment slot put there as the image build does
(systemd-repart populates a vfat partition with mcopy)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.images.bootcheck import ROOT

SLOT_FILE = ROOT / "mkosi.profiles" / "edge" / "mkosi.extra" / "usr" / "lib" / "guardian" / "enrol-slot.conf"
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ESP_START = 2048  # sectors
MTOOLS_ENV = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}


def mtools(*args: str) -> bytes:
    return subprocess.run(list(args), capture_output=True, check=True, env=MTOOLS_ENV).stdout


def esp_disk(path: Path, *, esp_mib: int = 40, fat: int = 32, cluster_sectors: int | None = 1,
             slot: bool = True, fragment: bool = False, data: bytes = b"") -> Path:
    """A GPT disk: an ESP of ``esp_mib`` (FAT16/32), then a Linux partition starting with ``data``.
    ``slot``: with guardian/enrol.conf from the image build's slot file. ``fragment``: the slot's
    clusters split around another file's (needs small clusters)."""
    esp_sectors = esp_mib * 2048
    data_start = ESP_START + esp_sectors
    with path.open("wb") as f:
        f.truncate((data_start + 8 * 2048 + 2048) * 512)
    table = f"label: gpt\nstart={ESP_START}, size={esp_sectors}, type={ESP_TYPE}\nstart={data_start}, size={8 * 2048}, type=linux\n"
    subprocess.run(["sfdisk", "-q", str(path)], input=table.encode(), check=True)
    esp = path.with_suffix(".esp")
    cluster = ["-s", str(cluster_sectors)] if cluster_sectors else []
    subprocess.run(["mkfs.vfat", "-C", "-F", str(fat), "-S", "512", *cluster, str(esp), str(esp_mib * 1024)],
                   check=True, capture_output=True)
    target = f"{esp}"
    if slot:
        mtools("mmd", "-i", target, "::/guardian")
        if fragment:
            first, second = path.with_suffix(".a"), path.with_suffix(".b")
            first.write_bytes(b"a" * 512)
            second.write_bytes(b"b" * 512)
            mtools("mcopy", "-i", target, str(first), "::/a.txt")
            mtools("mcopy", "-i", target, str(second), "::/b.txt")
            mtools("mdel", "-i", target, "::/a.txt")  # a one-cluster hole before b.txt
            if fat == 32:  # FAT32 allocates after FSInfo's "next free" hint: point it back to the start
                with esp.open("r+b") as f:
                    f.seek(48)
                    fsinfo = int.from_bytes(f.read(2), "little")
                    f.seek(fsinfo * 512 + 492)
                    f.write((2).to_bytes(4, "little"))
        mtools("mcopy", "-i", target, str(SLOT_FILE), "::/guardian/enrol.conf")
    subprocess.run(["dd", f"if={esp}", f"of={path}", "bs=512", f"seek={ESP_START}", "conv=notrunc,sparse", "status=none"],
                   check=True)
    esp.unlink()
    if data:
        with path.open("r+b") as f:
            f.seek(data_start * 512)
            f.write(data)
    return path


def read_enrol(disk: Path) -> bytes:
    return mtools("mtype", "-i", f"{disk}@@{ESP_START * 512}", "::/guardian/enrol.conf")


def random_data(size: int) -> bytes:
    return os.urandom(size)
