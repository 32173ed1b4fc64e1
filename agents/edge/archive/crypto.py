"""The archive's encrypted clip format, version 1 (specified in docs/archive-format.md).

A clip is encrypted with a fresh random 256-bit data key in fixed-size chunks of AES-256-GCM (the
STREAM construction: a per-file random nonce prefix, the chunk counter and a final-chunk flag make each
nonce; the same index and flag, and the whole header, are bound as associated data). The data key is
wrapped with AES-256-GCM under a key-encryption key (KEK) derived by Argon2id from the user's archive
secret; the Argon2id salt and costs are in the header, so the secret alone opens the file anywhere
(in the browser with WebCrypto and a WASM Argon2id).

Detected, each with its own exception: a wrong secret (:class:`WrongSecret`), an altered byte anywhere
(:class:`TamperedChunk`, or :class:`WrongSecret` for the header, whose every byte feeds the key unwrap),
a reordered or dropped chunk (:class:`TamperedChunk`), a file cut short at any point or missing its last
chunk (:class:`Truncated`), data after the final chunk (:class:`TamperedChunk`).

Only :mod:`cryptography` (AES-GCM) and :mod:`argon2` (Argon2id) do cryptography here.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from guardian.runtime.errors import GuardianError

MAGIC = b"GRDA"
VERSION = 1
KDF_ARGON2ID = 1
HEADER_SIZE = 102
TAG_SIZE = 16
KEY_SIZE = 32
SALT_SIZE = 16
NONCE_PREFIX_SIZE = 7
WRAP_NONCE_SIZE = 12
DEFAULT_CHUNK_SIZE = 1 << 20  # 1 MiB of plaintext per chunk
MIN_CHUNK_SIZE = 1 << 10
MAX_CHUNK_SIZE = 1 << 24
MAX_CHUNKS = 1 << 32  # the counter is 32 bits: a nonce can never repeat under one data key

# ">4sBBIIB16sI7s12s48s": magic, version, kdf, m_cost (KiB), t_cost, parallelism, salt, chunk size,
# nonce prefix, wrap nonce, wrapped data key (32 bytes ciphertext + 16 bytes tag).
_HEADER = struct.Struct(">4sBBIIB16sI7s12s48s")
_AUTHENTICATED_PREFIX = 54  # header bytes before the wrapped key: the AAD of the key wrap
assert _HEADER.size == HEADER_SIZE


class ArchiveCryptoError(GuardianError):
    """Base of every failure to open an archived clip."""


class FormatError(ArchiveCryptoError):
    """Not an archive file of a version and parameters this code can open."""


class WrongSecret(ArchiveCryptoError):
    """The data key could not be unwrapped: wrong archive secret, or the header was altered."""

    def __init__(self) -> None:
        super().__init__("wrong archive secret (or the file's header was altered): the clip key does not unwrap")


class TamperedChunk(ArchiveCryptoError):
    """A chunk failed authentication: altered, reordered, from another file, or data after the end."""

    def __init__(self, index: int, detail: str = "") -> None:
        self.index = index
        super().__init__(
            f"chunk {index} failed authentication (altered, reordered or foreign data){': ' + detail if detail else ''}"
        )


class Truncated(ArchiveCryptoError):
    """The file ends before its final chunk (cut short, or the last chunk dropped)."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        super().__init__(f"file is truncated: {chunks} chunk(s) read and none of them is the final one")


@dataclass(frozen=True)
class KdfParams:
    """Argon2id (v1.3) costs. Defaults: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommendation with
    one lane, because browser WASM Argon2 runs single-threaded)."""

    m_cost_kib: int = 65536
    t_cost: int = 3
    parallelism: int = 1

    def check(self) -> None:
        # Bounds also protect a decrypting browser from a header that asks for absurd costs.
        if not (8 * self.parallelism <= self.m_cost_kib <= 1 << 21):
            raise FormatError(f"argon2id memory cost {self.m_cost_kib} KiB out of range (≤ 2 GiB)")
        if not (1 <= self.t_cost <= 64):
            raise FormatError(f"argon2id time cost {self.t_cost} out of range 1..64")
        if not (1 <= self.parallelism <= 16):
            raise FormatError(f"argon2id parallelism {self.parallelism} out of range 1..16")


@dataclass(frozen=True)
class KeyEncryptionKey:
    """The Argon2id output for one secret, with the salt and costs that produced it."""

    key: bytes
    salt: bytes
    params: KdfParams

    def __repr__(self) -> str:  # never print key material
        return f"KeyEncryptionKey(salt={self.salt.hex()}, params={self.params})"


def derive_kek(secret: str | bytes, salt: bytes | None = None, params: KdfParams | None = None) -> KeyEncryptionKey:
    """Argon2id(secret, salt) → 32-byte KEK. A fresh 16-byte salt is drawn when none is given.

    A ``str`` secret is encoded as UTF-8 (the browser does the same with ``TextEncoder``).
    """
    params = params or KdfParams()
    params.check()
    salt = salt if salt is not None else os.urandom(SALT_SIZE)
    if len(salt) != SALT_SIZE:
        raise FormatError(f"salt must be {SALT_SIZE} bytes")
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not raw:
        raise ValueError("empty archive secret")
    key = hash_secret_raw(
        secret=raw, salt=salt, time_cost=params.t_cost, memory_cost=params.m_cost_kib,
        parallelism=params.parallelism, hash_len=KEY_SIZE, type=Type.ID, version=19,
    )
    return KeyEncryptionKey(key=key, salt=salt, params=params)


@dataclass(frozen=True)
class Header:
    version: int
    params: KdfParams
    salt: bytes
    chunk_size: int
    nonce_prefix: bytes
    wrap_nonce: bytes
    wrapped_key: bytes
    raw: bytes  # the exact HEADER_SIZE bytes as in the file (the chunks' associated data)

    @classmethod
    def parse(cls, raw: bytes) -> Header:
        if len(raw) < HEADER_SIZE:
            raise FormatError(f"file too short for a header ({len(raw)} of {HEADER_SIZE} bytes)")
        raw = bytes(raw[:HEADER_SIZE])
        magic, version, kdf, m_cost, t_cost, lanes, salt, chunk_size, prefix, wrap_nonce, wrapped = _HEADER.unpack(raw)
        if magic != MAGIC:
            raise FormatError("not a Guardian archive file (bad magic)")
        if version != VERSION:
            raise FormatError(f"unsupported archive format version {version} (this code reads {VERSION})")
        if kdf != KDF_ARGON2ID:
            raise FormatError(f"unknown key derivation {kdf}")
        if not (MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE):
            raise FormatError(f"chunk size {chunk_size} out of range")
        params = KdfParams(m_cost_kib=m_cost, t_cost=t_cost, parallelism=lanes)
        params.check()
        return cls(VERSION, params, salt, chunk_size, prefix, wrap_nonce, wrapped, raw)


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if final else 0)


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">IB", index, 1 if final else 0)


def _read_exactly(src: BinaryIO, size: int) -> bytes:
    parts, left = [], size
    while left:
        block = src.read(left)
        if not block:
            break
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


class Encryptor:
    """Encrypts one clip: ``header`` first, then ``chunks(src)``."""

    def __init__(self, kek: KeyEncryptionKey, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if not (MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE):
            raise ValueError(f"chunk size must be within {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}")
        if len(kek.key) != KEY_SIZE:
            raise ValueError("KEK must be 32 bytes")
        self.chunk_size = chunk_size
        data_key = AESGCM.generate_key(bit_length=256)
        self._aead = AESGCM(data_key)
        self._prefix = os.urandom(NONCE_PREFIX_SIZE)
        wrap_nonce = os.urandom(WRAP_NONCE_SIZE)
        p = kek.params
        head = _HEADER.pack(MAGIC, VERSION, KDF_ARGON2ID, p.m_cost_kib, p.t_cost, p.parallelism, kek.salt,
                            chunk_size, self._prefix, wrap_nonce, b"\0" * 48)[:_AUTHENTICATED_PREFIX]
        wrapped = AESGCM(kek.key).encrypt(wrap_nonce, data_key, head)
        self.header = head + wrapped

    def chunks(self, src: BinaryIO) -> Iterator[bytes]:
        """Ciphertext chunks of everything ``src`` yields (a one-chunk look-ahead finds the last one)."""
        index = 0
        current = _read_exactly(src, self.chunk_size)
        while True:
            following = _read_exactly(src, self.chunk_size) if len(current) == self.chunk_size else b""
            final = not following
            if index >= MAX_CHUNKS:
                raise ValueError("clip too long for one archive file")
            yield self._aead.encrypt(_nonce(self._prefix, index, final), current, _aad(self.header, index, final))
            if final:
                return
            index += 1
            current = following


def encrypt_stream(src: BinaryIO, dst: BinaryIO, kek: KeyEncryptionKey, chunk_size: int = DEFAULT_CHUNK_SIZE) -> str:
    """Encrypt ``src`` into ``dst``; returns the SHA-256 (hex) of everything written (for the CID)."""
    enc = Encryptor(kek, chunk_size)
    digest = hashlib.sha256(enc.header)
    dst.write(enc.header)
    for chunk in enc.chunks(src):
        digest.update(chunk)
        dst.write(chunk)
    return digest.hexdigest()


def unwrap(header: Header, kek: KeyEncryptionKey) -> AESGCM:
    try:
        data_key = AESGCM(kek.key).decrypt(header.wrap_nonce, header.wrapped_key, header.raw[:_AUTHENTICATED_PREFIX])
    except InvalidTag:
        raise WrongSecret() from None
    return AESGCM(data_key)


def decrypt_stream(src: BinaryIO, dst: BinaryIO, secret: str | bytes | None = None,
                   kek: KeyEncryptionKey | None = None) -> int:
    """Decrypt ``src`` into ``dst`` with the secret (or an already derived KEK of the same salt/costs).

    Every chunk is authenticated before it is written; a truncated file raises :class:`Truncated` only
    at its end, so on any exception the caller must discard what was written. Returns the plaintext size.
    """
    header = Header.parse(_read_exactly(src, HEADER_SIZE))
    if kek is None or kek.salt != header.salt or kek.params != header.params:
        if secret is None:
            raise ValueError("a secret (or the matching KEK) is needed")
        kek = derive_kek(secret, header.salt, header.params)
    aead = unwrap(header, kek)
    block = header.chunk_size + TAG_SIZE
    index, written = 0, 0
    current = _read_exactly(src, block)
    while True:
        if index >= MAX_CHUNKS:
            raise TamperedChunk(index, "more chunks than the format allows")
        if len(current) < TAG_SIZE:
            raise Truncated(index)
        following = _read_exactly(src, block) if len(current) == block else b""
        final = not following
        try:
            plain = aead.decrypt(_nonce(header.nonce_prefix, index, final), current, _aad(header.raw, index, final))
        except InvalidTag:
            if final and _opens_as(aead, header, current, index, final=False):
                raise Truncated(index + 1) from None  # a genuine middle chunk where the file ends
            if not final and _opens_as(aead, header, current, index, final=True):
                raise TamperedChunk(index + 1, "data after the final chunk") from None
            if final:
                raise TamperedChunk(index, "the last chunk is altered or cut short") from None
            raise TamperedChunk(index) from None
        dst.write(plain)
        written += len(plain)
        if final:
            return written
        index += 1
        current = following


def _opens_as(aead: AESGCM, header: Header, data: bytes, index: int, final: bool) -> bool:
    try:
        aead.decrypt(_nonce(header.nonce_prefix, index, final), data, _aad(header.raw, index, final))
    except InvalidTag:
        return False
    return True


def encrypt_bytes(plain: bytes, kek: KeyEncryptionKey, chunk_size: int = DEFAULT_CHUNK_SIZE) -> bytes:
    import io

    out = io.BytesIO()
    encrypt_stream(io.BytesIO(plain), out, kek, chunk_size)
    return out.getvalue()


def decrypt_bytes(data: bytes, secret: str | bytes | None = None, kek: KeyEncryptionKey | None = None) -> bytes:
    import io

    out = io.BytesIO()
    decrypt_stream(io.BytesIO(data), out, secret=secret, kek=kek)
    return out.getvalue()
