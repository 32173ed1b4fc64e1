"""Archive encryption on the edge: throughput of the clip format vs bare AES-256-GCM, and Argon2id's cost.

    .venv/bin/python bench/archive_crypto.py [--mib 64] [--rounds 5]

1. Bare AES-256-GCM (``cryptography``) over the same buffer in the same 1 MiB pieces: the baseline.
2. The archive format (agents/edge/archive/crypto.py): header, per-chunk nonce/AAD, file-like streaming,
   the SHA-256 of the output (for the CID); encrypt and decrypt, from and to memory.
3. Argon2id at the chosen cost (64 MiB, t=3, p=1) and two neighbours, the time one derivation takes here
   (paid once per `set-secret` on the edge and once per clip opened in the browser).
Figures are medians over ``--rounds``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from agents.edge.archive.crypto import (  # noqa: E402
    DEFAULT_CHUNK_SIZE,
    KdfParams,
    decrypt_stream,
    derive_kek,
    encrypt_stream,
)


def median_seconds(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64, help="buffer size in MiB")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = args.mib << 20
    buffer = os.urandom(size)
    chunk = DEFAULT_CHUNK_SIZE
    print(f"buffer {args.mib} MiB, chunk {chunk >> 10} KiB, {args.rounds} rounds (median), cpus {os.cpu_count()}")

    aead, nonce = AESGCM(AESGCM.generate_key(bit_length=256)), os.urandom(12)
    view = memoryview(buffer)

    def bare() -> None:
        for start in range(0, size, chunk):
            aead.encrypt(nonce, view[start:start + chunk], None)

    kek = derive_kek("benchmark secret, not a real one", params=KdfParams(m_cost_kib=1024, t_cost=1))
    sink = io.BytesIO()

    def archive_encrypt() -> None:
        sink.seek(0)
        sink.truncate()
        encrypt_stream(io.BytesIO(buffer), sink, kek, chunk)

    archive_encrypt()
    blob = sink.getvalue()

    def archive_decrypt() -> None:
        decrypt_stream(io.BytesIO(blob), io.BytesIO(), kek=kek)

    import hashlib

    t_sha = median_seconds(lambda: hashlib.sha256(buffer).digest(), args.rounds)
    t_bare = median_seconds(bare, args.rounds)
    t_enc = median_seconds(archive_encrypt, args.rounds)
    t_dec = median_seconds(archive_decrypt, args.rounds)
    mib = size / (1 << 20)
    print(f"bare AES-256-GCM encrypt      {mib / t_bare:8.0f} MiB/s   (baseline)")
    print(f"bare SHA-256 (the CID's hash) {mib / t_sha:8.0f} MiB/s")
    print(f"archive format encrypt+sha256 {mib / t_enc:8.0f} MiB/s   {t_enc / t_bare:5.2f}x the baseline's time")
    print(f"archive format decrypt        {mib / t_dec:8.0f} MiB/s   {t_dec / t_bare:5.2f}x")
    print(f"size overhead                 {len(blob) - size} bytes ({(len(blob) - size) / size * 100:.4f} %)")

    for label, params in (("chosen   ", KdfParams()), ("lighter  ", KdfParams(m_cost_kib=19456, t_cost=2)),
                          ("heavier  ", KdfParams(m_cost_kib=262144, t_cost=3))):
        t = median_seconds(lambda p=params: derive_kek("benchmark secret, not a real one", params=p),
                           max(1, min(args.rounds, 3)))
        print(f"argon2id {label} m={params.m_cost_kib >> 10:4d} MiB t={params.t_cost} p={params.parallelism}: "
              f"{t * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
