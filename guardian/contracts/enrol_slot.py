"""The edge image's enrolment slot: a fixed-size guardian/enrol.conf on the ESP, personalised in place.

The image build puts :func:`generic_slot` at ``guardian/enrol.conf`` on the ESP (a comment header, then
``#`` padding). Personalising an image is overwriting exactly those bytes with :func:`render_slot` of the
settings: same size, same clusters, so the FAT and the directory entry stay as built, and first boot
(firstboot/guardian-firstboot) reads the file as before: the header and the padding are comments. The
cloud's download substitutes the slot's bytes while streaming the generic image, and
scripts/personalise-image.sh writes the same bytes into a copy; both render enrol.conf with
:func:`render_conf` (the script through ``conf``), so both give byte-identical images
(tests/cloud/test_image_download.py checks it).

Standard library only: the script runs this file with the host's python3 (``conf``/``locate``/``write``).
"""

from __future__ import annotations

import argparse
import base64
import re
import struct
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

SLOT_SIZE = 16384  # room for the token and a private relay CA bundle (base64), with space to spare
MAGIC = b"# guardian enrolment slot v1: KEY=VALUE lines, then '#' padding to 16384 bytes\n"
SLOT_PATH = ("guardian", "enrol.conf")
ESP_TYPE = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b").bytes_le
CONF_HEADER = "# Enrolment settings for one Guardian edge appliance (read once at first boot).\n"


class SlotError(ValueError):
    """The image has no usable enrolment slot, or the settings do not fit it."""


@dataclass(frozen=True)
class Slot:
    """Where the slot's bytes lie in the disk image: (offset, length) runs, in file order."""

    extents: tuple[tuple[int, int], ...]

    @property
    def start(self) -> int:
        return self.extents[0][0]


# One public key per line of an authorized_keys file (no options before the key type): what
# firstboot/guardian-firstboot accepts in GUARDIAN_OPERATOR_SSH_KEYS (it checks with the same pattern).
AUTHORIZED_KEY = re.compile(
    r"(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
    r" [A-Za-z0-9+/=]+( .*)?"
)


def render_conf(relay: str, token: str, *, address: str = "", gateway: str = "", dns: str = "",
                relay_ca_pem: bytes | None = None, operator_ssh_keys: bytes | None = None) -> bytes:
    """enrol.conf as scripts/personalise-image.sh writes it for ``--relay --token-file [--relay-ca]
    [--operator-keys]``."""
    values = [relay, token, address, gateway, dns]
    if not relay or not token or any(v != v.strip() or any(c.isspace() for c in v) for v in values):
        raise SlotError("relay and token are required; values may not contain whitespace")
    lines = [CONF_HEADER, f"GUARDIAN_RELAY_ENDPOINT={relay}\n", f"GUARDIAN_BOOTSTRAP_TOKEN={token}\n"]
    lines += [f"GUARDIAN_{key}={value}\n" for key, value in (("ADDRESS", address), ("GATEWAY", gateway), ("DNS", dns)) if value]
    conf = "".join(lines).encode()
    if operator_ssh_keys is not None:
        conf = with_operator_keys(conf, operator_ssh_keys)
    return conf if relay_ca_pem is None else with_relay_ca(conf, relay_ca_pem)


def operator_keys(authorized_keys: bytes) -> bytes:
    """The public keys of an authorized_keys file, one per line (comments and blank lines dropped), checked:
    the operator's way in to an edge through its relay (issue #19; first boot installs them for root)."""
    keys = [line.strip() for line in authorized_keys.decode("utf-8", "replace").splitlines()]
    keys = [key for key in keys if key and not key.startswith("#")]
    bad = [key[:40] for key in keys if not AUTHORIZED_KEY.fullmatch(key)]
    if not keys or bad:
        raise SlotError(f"operator SSH keys: not an authorized_keys file of public keys ({bad[0] if bad else 'no key'})")
    return ("\n".join(keys) + "\n").encode()


def with_operator_keys(conf: bytes, authorized_keys: bytes) -> bytes:
    """``conf`` carrying the operator's SSH public keys (base64) as its only ``GUARDIAN_OPERATOR_SSH_KEYS``."""
    lines = [line for line in conf.splitlines(keepends=True) if not line.startswith(b"GUARDIAN_OPERATOR_SSH_KEYS=")]
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    return b"".join(lines) + b"GUARDIAN_OPERATOR_SSH_KEYS=" + base64.b64encode(operator_keys(authorized_keys)) + b"\n"


def with_relay_ca(conf: bytes, relay_ca_pem: bytes) -> bytes:
    """``conf`` carrying ``relay_ca_pem`` (base64) as its only ``GUARDIAN_RELAY_CA``, on the last line."""
    lines = [line for line in conf.splitlines(keepends=True) if not line.startswith(b"GUARDIAN_RELAY_CA=")]
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    return b"".join(lines) + b"GUARDIAN_RELAY_CA=" + base64.b64encode(relay_ca_pem) + b"\n"


def conf_from_options(argv: Sequence[str]) -> bytes:
    """enrol.conf for scripts/personalise-image.sh's options: ``--config FILE`` (the operator's own file,
    CR dropped) or ``--relay HOST:PORT --token-file FILE|-`` [``--address/--gateway/--dns``], and
    ``--relay-ca PEM`` and ``--operator-keys AUTHORIZED_KEYS``. The same :func:`render_conf` the cloud's download
    uses, so both give one file."""
    parser = argparse.ArgumentParser(prog="enrol_slot.py conf")
    parser.add_argument("--config")
    parser.add_argument("--relay", default="")
    parser.add_argument("--token-file")
    for name in ("--address", "--gateway", "--dns"):
        parser.add_argument(name, default="")
    parser.add_argument("--relay-ca")
    parser.add_argument("--operator-keys")
    args = parser.parse_args(argv)
    keys: bytes | None = None
    if args.operator_keys:
        try:
            keys = Path(args.operator_keys).read_bytes()
        except OSError as error:
            raise SlotError(f"--operator-keys: cannot read {args.operator_keys}: {error.strerror}") from error
    ca: bytes | None = None
    if args.relay_ca:
        try:
            ca = Path(args.relay_ca).read_bytes()
        except OSError:
            ca = None
        if ca is None or b"-----BEGIN CERTIFICATE-----" not in ca:
            raise SlotError(f"--relay-ca: not a PEM certificate file: {args.relay_ca}")
    if args.config:
        conf = Path(args.config).read_bytes().replace(b"\r", b"")
        conf = conf if keys is None else with_operator_keys(conf, keys)
        return conf if ca is None else with_relay_ca(conf, ca)
    if not args.token_file:
        raise SlotError("need --config, or --relay and --token-file")
    # As the shell reads a file: the trailing newlines are not the token's.
    token = (sys.stdin.read() if args.token_file == "-" else Path(args.token_file).read_text()).rstrip("\n")
    if not token:
        raise SlotError("the token file is empty")
    return render_conf(args.relay, token, address=args.address, gateway=args.gateway, dns=args.dns, relay_ca_pem=ca,
                       operator_ssh_keys=keys)


def render_slot(conf: bytes) -> bytes:
    """The slot's bytes carrying ``conf``: the header, the settings, then one ``#`` line to the fixed size."""
    if conf and not conf.endswith(b"\n"):
        conf += b"\n"
    room = SLOT_SIZE - len(MAGIC) - len(conf)
    if room < 1:
        raise SlotError(f"the enrolment settings ({len(conf)} bytes) do not fit the image's {SLOT_SIZE}-byte slot")
    return MAGIC + conf + b"#" * (room - 1) + b"\n"


def generic_slot() -> bytes:
    """What the image build puts in the slot: no settings (first boot says the image is not personalised)."""
    return render_slot(b"")


def _esp_offset(image: BinaryIO) -> int:
    for sector in (512, 4096):
        image.seek(sector)
        header = image.read(92)
        if header[:8] != b"EFI PART":
            continue
        entries_lba, count, size = struct.unpack_from("<QII", header, 72)
        image.seek(entries_lba * sector)
        table = image.read(count * size)
        for i in range(count):
            entry = table[i * size:(i + 1) * size]
            if entry[:16] == ESP_TYPE:
                return int(struct.unpack_from("<Q", entry, 32)[0]) * sector
        raise SlotError("no ESP in the partition table")
    raise SlotError("not a GPT disk image")


class _Fat:
    """Just enough FAT16/FAT32 to follow a path to a file's clusters (read-only)."""

    def __init__(self, image: BinaryIO, base: int) -> None:
        image.seek(base)
        boot = image.read(512)
        if boot[510:512] != b"\x55\xaa":
            raise SlotError("the ESP holds no FAT file system")
        self.image, self.base = image, base
        self.sector, per_cluster, reserved, fats, root_entries, total16, fat16 = struct.unpack_from("<HBHBHHxH", boot, 11)
        total = total16 or struct.unpack_from("<I", boot, 32)[0]
        fat_sectors = fat16 or struct.unpack_from("<I", boot, 36)[0]
        self.cluster = self.sector * per_cluster
        root_sectors = (root_entries * 32 + self.sector - 1) // self.sector
        self.fat_start = base + reserved * self.sector
        self.root_start = self.fat_start + fats * fat_sectors * self.sector
        self.data_start = self.root_start + root_sectors * self.sector
        clusters = (total - (self.data_start - base) // self.sector) // per_cluster
        if clusters < 4085:
            raise SlotError("FAT12 is not supported")
        self.fat32 = clusters >= 65525
        self.clusters = clusters
        self.root_cluster = struct.unpack_from("<I", boot, 44)[0] if self.fat32 else 0
        self.root_size = root_entries * 32

    def _next(self, cluster: int) -> int | None:
        width = 4 if self.fat32 else 2
        self.image.seek(self.fat_start + cluster * width)
        value = int.from_bytes(self.image.read(width), "little")
        if self.fat32:
            value &= 0x0FFFFFFF
        return None if value >= (0x0FFFFFF8 if self.fat32 else 0xFFF8) or value < 2 else value

    def extents(self, first: int, size: int | None) -> list[tuple[int, int]]:
        """The byte runs of a cluster chain (``size``: cut to the file's length; None: the whole chain)."""
        runs: list[tuple[int, int]] = []
        cluster: int | None = first
        seen = steps = 0
        while cluster is not None and (size is None or seen < size):
            steps += 1
            if steps > self.clusters:
                raise SlotError("cluster chain loops")
            offset = self.data_start + (cluster - 2) * self.cluster
            length = self.cluster if size is None else min(self.cluster, size - seen)
            if runs and runs[-1][0] + runs[-1][1] == offset:
                runs[-1] = (runs[-1][0], runs[-1][1] + length)
            else:
                runs.append((offset, length))
            seen += length
            cluster = self._next(cluster)
        return runs

    def _read(self, runs: Sequence[tuple[int, int]]) -> bytes:
        parts = []
        for offset, length in runs:
            self.image.seek(offset)
            parts.append(self.image.read(length))
        return b"".join(parts)

    def find(self, names: Sequence[str]) -> tuple[int, int, bool]:
        """(first cluster, size, is a directory) of a path, names compared case-insensitively."""
        runs = [(self.root_start, self.root_size)] if not self.fat32 else self.extents(self.root_cluster, None)
        found = (0, 0, True)
        for name in names:
            found = self._lookup(self._read(runs), name.lower())
            runs = self.extents(found[0], None)
        return found

    def _lookup(self, directory: bytes, name: str) -> tuple[int, int, bool]:
        long_name: dict[int, str] = {}
        for i in range(0, len(directory) - 31, 32):
            entry = directory[i:i + 32]
            if entry[0] == 0:
                break
            if entry[0] == 0xE5:
                long_name.clear()
                continue
            if entry[11] == 0x0F:  # a VFAT long-name part: 13 UTF-16 characters
                chars = (entry[1:11] + entry[14:26] + entry[28:32]).decode("utf-16-le", "replace")
                long_name[entry[0] & 0x1F] = chars.split("\0", 1)[0]
                continue
            short = entry[:8].decode("latin-1").rstrip() + ("." + entry[8:11].decode("latin-1").rstrip() if entry[8:11].strip() else "")
            full = "".join(long_name[k] for k in sorted(long_name)) if long_name else short
            long_name.clear()
            if name in (full.lower(), short.lower()):
                high, low, size = struct.unpack_from("<H", entry, 20)[0], struct.unpack_from("<H", entry, 26)[0], struct.unpack_from("<I", entry, 28)[0]
                return (high << 16) | low, size, bool(entry[11] & 0x10)
        raise SlotError(f"no {'/'.join(SLOT_PATH)} on the ESP")


def locate(image: BinaryIO) -> Slot:
    """The enrolment slot of a disk image, or SlotError when it has none (an image built before slots)."""
    fat = _Fat(image, _esp_offset(image))
    cluster, size, is_dir = fat.find(SLOT_PATH)
    if is_dir or size != SLOT_SIZE:
        raise SlotError(f"{'/'.join(SLOT_PATH)} on the ESP is not a {SLOT_SIZE}-byte slot")
    slot = Slot(tuple(fat.extents(cluster, size)))
    image.seek(slot.start)
    if image.read(len(MAGIC)) != MAGIC:
        raise SlotError(f"{'/'.join(SLOT_PATH)} on the ESP does not start with the slot header")
    return slot


def write(image: BinaryIO, slot: Slot, content: bytes) -> None:
    """Overwrite the slot's bytes in place."""
    if len(content) != SLOT_SIZE:
        raise SlotError("slot content of the wrong size")
    done = 0
    for offset, length in slot.extents:
        image.seek(offset)
        image.write(content[done:done + length])
        done += length


def main(argv: Sequence[str]) -> int:
    """``locate IMAGE`` (exit 1: no slot), ``write IMAGE CONF`` (65: no slot or too big), ``generic``,
    ``conf OPTIONS`` (enrol.conf on stdout, :func:`conf_from_options`; 65: bad settings)."""
    try:
        if argv[:1] == ["conf"]:
            sys.stdout.buffer.write(conf_from_options(argv[1:]))
        elif argv[:1] == ["generic"] and len(argv) == 1:
            sys.stdout.buffer.write(generic_slot())
        elif argv[:1] == ["locate"] and len(argv) == 2:
            with open(argv[1], "rb") as f:
                print(" ".join(f"{o}+{n}" for o, n in locate(f).extents))
        elif argv[:1] == ["write"] and len(argv) == 3:
            with open(argv[2], "rb") as conf:
                content = render_slot(conf.read())
            with open(argv[1], "r+b") as f:
                write(f, locate(f), content)
        else:
            print("usage: enrol_slot.py generic | locate IMAGE | write IMAGE CONF | conf OPTIONS", file=sys.stderr)
            return 64
    except (SlotError, OSError) as error:
        print(f"enrolment slot: {error}", file=sys.stderr)
        return 1 if argv[:1] == ["locate"] else 65
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
