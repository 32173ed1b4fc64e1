"""The archive key on the appliance: only the Argon2id-derived key-encryption key, never the secret.

``guardian-edge archive set-secret`` reads the secret from the terminal (or stdin), derives the KEK with
a fresh salt and stores ``{version, kdf, m_cost_kib, t_cost, parallelism, salt, kek}`` as JSON in a 0600
file (default ``<data_dir>/archive/archive-key.json``). The secret itself is dropped at once; it is
never logged, stored or transmitted. Changing the secret writes a new salt and KEK: clips archived
before keep opening with the old secret (their headers carry their own salt).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from agents.edge.archive.crypto import KEY_SIZE, KdfParams, KeyEncryptionKey, derive_kek
from guardian.runtime.errors import GuardianError

MIN_SECRET_LENGTH = 12


class NoArchiveKey(GuardianError):
    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"no archive secret set ({path} missing): run `guardian-edge archive set-secret`")


class WeakSecret(GuardianError):
    exit_code = 65  # EX_DATAERR: the input was refused


def check_secret(secret: str) -> None:
    if len(secret) < MIN_SECRET_LENGTH:
        raise WeakSecret(f"the archive secret must have at least {MIN_SECRET_LENGTH} characters")
    if secret != secret.strip():
        raise WeakSecret("the archive secret must not start or end with white space")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def save_kek(path: Path, kek: KeyEncryptionKey) -> None:
    """Write ``kek`` to ``path`` (mode 0600, atomically: a temp file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = json.dumps({
        "version": 1, "kdf": "argon2id", "m_cost_kib": kek.params.m_cost_kib, "t_cost": kek.params.t_cost,
        "parallelism": kek.params.parallelism, "salt": _b64(kek.salt), "kek": _b64(kek.key),
    }, indent=2).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def set_secret(path: Path, secret: str, params: KdfParams | None = None) -> KeyEncryptionKey:
    check_secret(secret)
    kek = derive_kek(secret, params=params)
    save_kek(path, kek)
    return kek


def load_kek(path: Path) -> KeyEncryptionKey:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NoArchiveKey(path) from None
    if os.stat(path).st_mode & 0o077:
        raise GuardianError(f"{path} is readable by others: chmod 600 it (or set the secret again)")
    key = base64.b64decode(data["kek"])
    if data.get("version") != 1 or data.get("kdf") != "argon2id" or len(key) != KEY_SIZE:
        raise GuardianError(f"{path}: not an archive key file this version understands")
    params = KdfParams(m_cost_kib=int(data["m_cost_kib"]), t_cost=int(data["t_cost"]),
                       parallelism=int(data["parallelism"]))
    return KeyEncryptionKey(key=key, salt=base64.b64decode(data["salt"]), params=params)
