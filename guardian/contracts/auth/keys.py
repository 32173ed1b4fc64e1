"""Ed25519 keys as text (base64url of the raw 32 bytes) and their short ids (``kid``).

Private keys travel as the seed, public keys as the point; both formats are what the cloud's
``GET /api/v1/keys`` and the relays' configs hold, whatever the token format.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

__all__ = [
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "PublicKeys",
    "as_keyring",
    "b64d",
    "b64e",
    "generate_private_key",
    "key_id",
    "load_public_keys",
    "private_key_from_text",
    "private_key_to_text",
    "public_key_from_text",
    "public_key_to_text",
]

#: One trusted key, or several by :func:`key_id` (the cloud rotates its signing key).
PublicKeys = Mapping[str, Ed25519PublicKey] | Ed25519PublicKey


def b64e(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    """Inverse of :func:`b64e`; raises ``ValueError`` on anything but the base64url alphabet."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_private_key() -> Ed25519PrivateKey:
    """A new Ed25519 private key (for the cloud's token signing key or a relay's request key)."""
    return Ed25519PrivateKey.generate()


def private_key_to_text(key: Ed25519PrivateKey) -> str:
    """base64url of the 32-byte seed. This is a secret: store it as a credential, never log it."""
    return b64e(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))


def private_key_from_text(text: str) -> Ed25519PrivateKey:
    """Inverse of :func:`private_key_to_text`; raises ``ValueError`` if it is not 32 bytes of base64url."""
    try:
        raw = b64d(text.strip())
    except (ValueError, binascii.Error):
        raise ValueError("private key is not base64url") from None
    if len(raw) != 32:
        raise ValueError("private key must be 32 bytes (base64url of the raw Ed25519 seed)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_to_text(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """base64url of the raw 32-byte public key (accepts a private key and takes its public half)."""
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return b64e(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """Inverse of :func:`public_key_to_text`; raises ``ValueError`` when malformed."""
    try:
        raw = b64d(text.strip())
    except (ValueError, binascii.Error):
        raise ValueError("public key is not base64url") from None
    if len(raw) != 32:
        raise ValueError("public key must be 32 bytes (base64url of the raw Ed25519 key)")
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Short stable id of a key: the first 8 bytes of SHA-256 of the raw public key, base64url."""
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return b64e(hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).digest()[:8])


def load_public_keys(texts: Iterable[str]) -> dict[str, Ed25519PublicKey]:
    """Public keys (base64url text, e.g. from the cloud's ``/api/v1/keys``) indexed by :func:`key_id`."""
    keys = {}
    for text in texts:
        key = public_key_from_text(text)
        keys[key_id(key)] = key
    return keys


def as_keyring(keys: PublicKeys) -> Mapping[str, Ed25519PublicKey]:
    """``keys`` indexed by :func:`key_id` (a single key becomes a ring of one)."""
    if isinstance(keys, Ed25519PublicKey):
        return {key_id(keys): keys}
    return keys
