"""The personalised edge image (issue #22): the generic image streamed with its enrolment slot's bytes replaced.

Nothing is copied per download: the slot (guardian/contracts/enrol_slot.py) is located once per generic
image (cached by path, size, mtime and inode) and each read substitutes its bytes. The result is byte
for byte what scripts/personalise-image.sh writes for the same settings.

The token is not stored: Ed25519 signatures are deterministic, so re-minting it from its row (nonce,
tenant, relay, label, issue and expiry time) with the same signing key gives the text issued.

Checksum: SHA-256 cannot skip the generic part that follows the slot, so each download's checksum costs
one pass over the image (~1 GB/s per core). The state up to the slot is cached per generic image and
the result per download (by its ETag), so it is paid once per download, on request (the UI asks for it
beside the download), never while streaming.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cloud.core.config import CloudSettings
from cloud.core.csp import host_port
from cloud.core.errors import ApiError
from cloud.tables import BootstrapToken, Relay
from guardian.contracts import auth, enrol_slot
from guardian.runtime.logging import get_logger

CHUNK = 1 << 20
log = get_logger("cloud.edge_image")


class ImageUnavailable(ApiError):
    status = 503
    code = "edge_image_unavailable"


@dataclass
class GenericImage:
    """One generic image file as located: where its slot is, and (lazily) the hash state before it."""

    path: Path
    identity: str
    size: int
    slot: enrol_slot.Slot
    _prefix: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prefix_hash(self) -> Any:
        """SHA-256 state over the bytes before the slot, computed once."""
        with self._lock:
            if self._prefix is None:
                digest = hashlib.sha256()
                with self.path.open("rb") as f:
                    remaining = self.slot.start
                    while remaining and (block := f.read(min(CHUNK, remaining))):
                        digest.update(block)
                        remaining -= len(block)
                self._prefix = digest
            return self._prefix.copy()


class ChecksumCache:
    """The newest SHA-256 results by ETag (a download's checksum is asked for again as it is shown), bounded."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._values: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, etag: str, compute: Callable[[], str]) -> str:
        """The checksum of ``etag``, computed (outside the lock) the first time."""
        with self._lock:
            if (known := self._values.get(etag)) is not None:
                return known
        value = compute()
        with self._lock:
            self._values[etag] = value
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def read_chunks(path: Path, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start`` to ``end`` (exclusive) of the file at ``path``, in chunks of at most :data:`CHUNK`."""
    with path.open("rb", buffering=0) as f:
        f.seek(start)
        position = start
        while position < end:
            block = f.read(min(CHUNK, end - position))
            if not block:
                raise OSError(f"{path.name} became shorter while being read")
            position += len(block)
            yield block


_images: dict[Path, GenericImage] = {}
_checksums = ChecksumCache()
_lock = threading.Lock()


def generic_image(path: Path) -> GenericImage:
    """The generic image at ``path``, its slot located once per version of the file."""
    try:
        st = path.stat()
    except OSError as error:
        raise ImageUnavailable("the edge image is not available on this cloud") from error
    identity = f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"
    with _lock:
        cached = _images.get(path)
        if cached is not None and cached.identity == identity:
            return cached
    try:
        with path.open("rb") as f:
            slot = enrol_slot.locate(f)
    except (OSError, enrol_slot.SlotError) as error:
        log.error("edge_image_unusable", path=str(path), reason=str(error))
        raise ImageUnavailable("the edge image on this cloud has no enrolment slot") from error
    image = GenericImage(path=path, identity=identity, size=st.st_size, slot=slot)
    with _lock:
        _images[path] = image
    log.info("edge_image_located", path=str(path), size=st.st_size, slot_offset=slot.start)
    return image


@dataclass(frozen=True)
class PersonalisedImage:
    image: GenericImage
    slot_bytes: bytes

    @property
    def size(self) -> int:
        return self.image.size

    @property
    def etag(self) -> str:
        """Strong validator: the generic file's version and this download's slot content."""
        digest = hashlib.sha256(self.image.identity.encode() + b"\0" + self.slot_bytes).hexdigest()
        return f'"{digest[:32]}"'

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive) of the personalised image, in chunks."""
        position = start
        for block in read_chunks(self.image.path, start, end):
            yield self._substitute(position, block)
            position += len(block)

    def _substitute(self, position: int, block: bytes) -> bytes:
        out: bytearray | None = None
        done = 0
        for offset, length in self.image.slot.extents:
            low, high = max(position, offset), min(position + len(block), offset + length)
            if low < high:
                out = out if out is not None else bytearray(block)
                out[low - position:high - position] = self.slot_bytes[done + low - offset:done + high - offset]
            done += length
        return bytes(out) if out is not None else block

    def sha256(self) -> str:
        """Hex SHA-256 of the whole personalised image (one pass after the slot; cached by ETag)."""
        def compute() -> str:
            digest = self.image.prefix_hash()
            for block in self.read(self.image.slot.start, self.size):
                digest.update(block)
            return str(digest.hexdigest())

        return _checksums.get(self.etag, compute)


def bootstrap_token_text(row: BootstrapToken, signing_key: auth.Ed25519PrivateKey, token_format: auth.TokenFormat) -> str:
    """The text of the token ``row`` describes, as ``POST /bootstrap-tokens`` minted it."""
    issued = row.created_at.timestamp()
    return auth.mint_bootstrap_token(
        signing_key, tenant_id=row.tenant_id, relay_id=row.relay_id, ttl=round(row.expires_at.timestamp() - issued),
        label=row.label, nonce=row.id, now=issued, token_format=token_format,
    )


def personalised(session: Session, row: BootstrapToken, settings: CloudSettings,
                 signing_key: auth.Ed25519PrivateKey) -> PersonalisedImage:
    """The generic image carrying ``row``'s token, its relay's enrolment address, and the relay CA and the
    operator's SSH keys, if any."""
    if settings.edge_image.path is None:
        raise ImageUnavailable("no edge image is configured on this cloud (edge_image.path)")
    image = generic_image(settings.edge_image.path)
    relay = session.get(Relay, row.relay_id)
    endpoint = relay and (relay.enrolment_endpoint or host_port(relay.endpoint_url))
    if not endpoint:
        raise ImageUnavailable("the token's relay has no enrolment address")
    ca, keys = settings.edge_image.relay_ca_file, settings.edge_image.operator_ssh_keys_file
    try:
        conf = enrol_slot.render_conf(
            endpoint, bootstrap_token_text(row, signing_key, settings.tokens.format),
            relay_ca_pem=ca.read_bytes() if ca is not None else None,
            operator_ssh_keys=keys.read_bytes() if keys is not None else None,
        )
        return PersonalisedImage(image, enrol_slot.render_slot(conf))
    except (OSError, enrol_slot.SlotError) as error:
        raise ImageUnavailable(f"the image cannot be personalised: {error}") from error


def reset_cache() -> None:
    """Forget located images and checksums (tests, benchmarks)."""
    with _lock:
        _images.clear()
    _checksums.clear()
