"""The clip format: round trip, and every kind of damage detected with its own clear error."""

from __future__ import annotations

import os
import struct

import pytest

from agents.edge.archive import crypto
from agents.edge.archive.crypto import (
    HEADER_SIZE,
    TAG_SIZE,
    FormatError,
    KdfParams,
    TamperedChunk,
    Truncated,
    WrongSecret,
    decrypt_bytes,
    derive_kek,
    encrypt_bytes,
)
from agents.edge.archive.keystore import WeakSecret, load_kek, set_secret

SECRET = "correct horse battery staple"
# Cheap costs for the tests; the default (64 MiB, t=3) is measured in bench/archive_crypto.py.
FAST = KdfParams(m_cost_kib=1024, t_cost=1, parallelism=1)
CHUNK = 4096


@pytest.fixture(scope="module")
def kek() -> crypto.KeyEncryptionKey:
    return derive_kek(SECRET, params=FAST)


@pytest.fixture(scope="module")
def plain() -> bytes:
    return os.urandom(5 * CHUNK + 123)  # five full chunks and a short last one


def chunk_bounds(blob: bytes) -> list[tuple[int, int]]:
    block, pos, out = CHUNK + TAG_SIZE, HEADER_SIZE, []
    while pos < len(blob):
        out.append((pos, min(pos + block, len(blob))))
        pos += block
    return out


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_round_trip(kek, size: int) -> None:
    data = os.urandom(size)
    blob = encrypt_bytes(data, kek, CHUNK)
    chunks = max(1, -(-size // CHUNK))
    assert len(blob) == HEADER_SIZE + size + chunks * TAG_SIZE
    assert decrypt_bytes(blob, SECRET) == data
    assert decrypt_bytes(blob, kek=kek) == data


def test_two_encryptions_differ(kek, plain) -> None:
    a, b = encrypt_bytes(plain, kek, CHUNK), encrypt_bytes(plain, kek, CHUNK)
    assert a[HEADER_SIZE:] != b[HEADER_SIZE:]  # fresh data key and nonce prefix per clip
    assert a[15:31] == b[15:31]  # the salt belongs to the secret's KEK


def test_wrong_secret(kek, plain) -> None:
    blob = encrypt_bytes(plain, kek, CHUNK)
    with pytest.raises(WrongSecret, match="wrong archive secret"):
        decrypt_bytes(blob, SECRET + "!")


def test_flipped_byte_in_every_chunk(kek, plain) -> None:
    blob = encrypt_bytes(plain, kek, CHUNK)
    for index, (start, end) in enumerate(chunk_bounds(blob)):
        for pos in (start, (start + end) // 2, end - 1):  # first byte, middle, inside the tag
            damaged = bytearray(blob)
            damaged[pos] ^= 0x01
            with pytest.raises(TamperedChunk, match=f"chunk {index} failed authentication") as err:
                decrypt_bytes(bytes(damaged), kek=kek)
            assert err.value.index == index


def test_flipped_byte_in_header(kek, plain) -> None:
    blob = encrypt_bytes(plain, kek, CHUNK)
    for pos in range(HEADER_SIZE):
        damaged = bytearray(blob)
        damaged[pos] ^= 0x01
        with pytest.raises((FormatError, WrongSecret, TamperedChunk)):
            decrypt_bytes(bytes(damaged), SECRET)


def test_truncated_at_a_chunk_boundary_and_last_chunk_dropped(kek, plain) -> None:
    blob = encrypt_bytes(plain, kek, CHUNK)
    bounds = chunk_bounds(blob)
    with pytest.raises(Truncated, match="truncated"):
        decrypt_bytes(blob[: bounds[-1][0]], kek=kek)  # the last chunk dropped
    with pytest.raises(Truncated):
        decrypt_bytes(blob[: bounds[2][0]], kek=kek)  # cut after chunk 1
    with pytest.raises(Truncated):
        decrypt_bytes(blob[:HEADER_SIZE], kek=kek)  # header only


def test_truncated_inside_a_chunk(kek, plain) -> None:
    blob = encrypt_bytes(plain, kek, CHUNK)
    start, _end = chunk_bounds(blob)[2]
    with pytest.raises(TamperedChunk, match="cut short"):
        decrypt_bytes(blob[: start + 100], kek=kek)
    with pytest.raises(FormatError, match="too short"):
        decrypt_bytes(blob[:50], kek=kek)


def test_reordered_chunks(kek, plain) -> None:
    blob = encrypt_bytes(plain, kek, CHUNK)
    b = chunk_bounds(blob)
    parts = [blob[s:e] for s, e in b]
    swapped = blob[:HEADER_SIZE] + parts[0] + parts[2] + parts[1] + b"".join(parts[3:])
    with pytest.raises(TamperedChunk, match="chunk 1 failed") as err:
        decrypt_bytes(swapped, kek=kek)
    assert err.value.index == 1
    dropped_middle = blob[:HEADER_SIZE] + parts[0] + b"".join(parts[2:])
    with pytest.raises(TamperedChunk, match="chunk 1 failed"):
        decrypt_bytes(dropped_middle, kek=kek)


def test_chunk_from_another_clip(kek, plain) -> None:
    a, other = encrypt_bytes(plain, kek, CHUNK), encrypt_bytes(plain, kek, CHUNK)
    start, end = chunk_bounds(a)[1]
    spliced = a[:start] + other[start:end] + a[end:]
    with pytest.raises(TamperedChunk, match="chunk 1"):
        decrypt_bytes(spliced, kek=kek)


def test_data_after_the_final_chunk(kek, plain) -> None:
    blob = encrypt_bytes(os.urandom(CHUNK), kek, CHUNK)  # exactly one full (final) chunk
    with pytest.raises(TamperedChunk, match="after the final chunk"):
        decrypt_bytes(blob + os.urandom(40), kek=kek)


def test_header_refuses_absurd_costs(kek, plain) -> None:
    blob = bytearray(encrypt_bytes(plain, kek, CHUNK))
    struct.pack_into(">I", blob, 6, 1 << 30)  # 1 TiB of Argon2 memory
    with pytest.raises(FormatError, match="memory cost"):
        decrypt_bytes(bytes(blob), SECRET)
    blob[4] = 2
    with pytest.raises(FormatError, match="version 2"):
        decrypt_bytes(bytes(blob), SECRET)


def test_keystore_keeps_only_derived_material(tmp_path, plain) -> None:
    path = tmp_path / "state" / "archive-key.json"
    with pytest.raises(WeakSecret):
        set_secret(path, "short", FAST)
    set_secret(path, SECRET, FAST)
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert SECRET not in text and SECRET.encode().hex() not in text
    stored = load_kek(path)
    assert decrypt_bytes(encrypt_bytes(plain, stored, CHUNK), SECRET) == plain
