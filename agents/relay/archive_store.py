"""Where archived ciphertext lives: an :class:`ObjectStore` keyed by CID; S3 today, IPFS/Filecoin later.

:func:`cid_of_file` computes the CIDv1 (raw codec, sha2-256, base32) with PyPI ``multiformats``; the key
of every object equals the CID of its bytes, so anyone holding an object can check it against its name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from multiformats import CID, multihash

from guardian.runtime.errors import GuardianError

READ_BLOCK = 1 << 20


class StoreError(GuardianError):
    pass


def cid_for_digest(sha256: bytes) -> str:
    """CIDv1, raw codec, sha2-256, base32 — the store key of content whose SHA-256 is ``sha256``."""
    return str(CID("base32", 1, "raw", multihash.wrap(sha256, "sha2-256")))


def cid_of_bytes(data: bytes) -> str:
    return cid_for_digest(hashlib.sha256(data).digest())


def cid_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(READ_BLOCK):
            digest.update(block)
    return cid_for_digest(digest.digest())


def digest_of_cid(cid: str) -> bytes:
    """The SHA-256 a CIDv1 raw/sha2-256 names (ValueError for anything else)."""
    parsed = CID.decode(cid)
    if parsed.version != 1 or parsed.codec.name != "raw" or parsed.hashfun.name != "sha2-256":
        raise ValueError(f"not a CIDv1 raw sha2-256: {cid}")
    return bytes(parsed.raw_digest)


class ObjectStore(Protocol):
    """A content-addressed blob store. Implementations: :class:`S3ObjectStore` (later: IPFS pinning)."""

    def put_file(self, key: str, path: Path) -> None: ...
    def size(self, key: str) -> int | None: ...
    def read(self, key: str) -> Iterator[bytes]: ...
    def delete(self, key: str) -> None: ...
    def download_url(self, key: str, ttl_s: int) -> str: ...


class S3ObjectStore:
    """Any S3-compatible endpoint (SeaweedFS in the tests), through boto3."""

    def __init__(self, endpoint_url: str, bucket: str, access_key_id: str, secret_access_key: str,
                 region: str = "us-east-1") -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url, aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key, region_name=region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 3, "mode": "standard"}),
        )

    def put_file(self, key: str, path: Path) -> None:
        from boto3.s3.transfer import TransferConfig

        try:  # multipart above 64 MiB; an incomplete multipart upload is aborted by boto3 on failure
            self.client.upload_file(str(path), self.bucket, key,
                                    Config=TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=16 << 20),
                                    ExtraArgs={"ContentType": "application/octet-stream"})
        except Exception as exc:
            raise StoreError(f"upload of {key} failed: {exc}") from exc

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StoreError(f"HEAD {key} failed: {exc}") from exc

    def read(self, key: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(READ_BLOCK)
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def download_url(self, key: str, ttl_s: int) -> str:
        return str(self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl_s))

    def keys(self) -> list[str]:
        """Every key in the bucket (tests and operators)."""
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            found.extend(o["Key"] for o in page.get("Contents", []))
        return found
