"""The edge's config key: an X25519 key pair the browser seals camera credentials to.

Made once, on first use, and kept in ``<data_dir>/config-key`` (the raw 32-byte private key, mode 0600);
it never leaves the box and is never logged. Its public half and ``key_id`` (the first 16 hex digits of the
SHA-256 of the public key) go up to the cloud in every config report. A sealed secret
(libsodium ``crypto_box_seal``) opens to ``"username:password"``, split at the first ``:``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from agents.edge.camera_config.errors import CredentialsUnavailable
from guardian.contracts.edge.v1 import config_pb2

KEY_FILE = "config-key"


def config_key_path(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def key_id_of(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ConfigKey:
    private: PrivateKey = field(repr=False)

    @property
    def public_key(self) -> bytes:
        return bytes(self.private.public_key)

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    def as_proto(self) -> config_pb2.ConfigKey:
        return config_pb2.ConfigKey(key_id=self.key_id, public_key=self.public_key)

    def open(self, camera: str, sealed: bytes) -> Credentials:
        """Open ``sealed`` (a SealedSecret's ciphertext) to the camera's user name and password."""
        try:
            plain = SealedBox(self.private).decrypt(sealed).decode()
        except (CryptoError, UnicodeDecodeError) as exc:
            raise CredentialsUnavailable(camera, "the credentials cannot be opened with this edge's config key") from exc
        username, sep, password = plain.partition(":")
        if not sep:
            raise CredentialsUnavailable(camera, "the credentials are not in the form username:password")
        return Credentials(username, password)

    @classmethod
    def load(cls, path: Path) -> ConfigKey | None:
        """The key at ``path``; None if none was made yet."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return cls(PrivateKey(raw))

    @classmethod
    def load_or_create(cls, path: Path) -> ConfigKey:
        """The key at ``path``, made first if there is none. Several processes may race to make it: each
        writes a private temporary file and links it into place, and the first link wins."""
        existing = cls.load(path)
        if existing is not None:
            return existing
        path.parent.mkdir(parents=True, exist_ok=True)
        key = PrivateKey.generate()
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, bytes(key))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)  # fails if another process made it first: theirs is the key
        except FileExistsError:
            pass
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        loaded = cls.load(path)
        assert loaded is not None  # linked just now, by us or by the process that won
        return loaded


def with_credentials(url: str, credentials: Credentials | None) -> str:
    """``url`` with the credentials inserted (percent-encoded). The result holds a secret: it is handed
    to the stream reader and kept in memory only, never stored or logged."""
    if credentials is None:
        return url
    parts = urlsplit(url)
    userinfo = f"{quote(credentials.username, safe='')}:{quote(credentials.password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))
