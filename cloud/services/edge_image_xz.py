"""The personalised edge image as ``.img.xz``, without compressing the image per download (issue #22).

An xz file may be a concatenation of xz streams, decoded as one file (xz-utils, and libarchive, which
Raspberry Pi Imager uses; tests/cloud/test_image_download_xz.py checks ``xz -dc`` and ``bsdcat``). So the
generic image is compressed ONCE, as two streams kept on disk: the bytes before the enrolment slot
(``prefix``) and the bytes after it (``suffix``). A download is prefix + a stream of the personalised slot's
bytes (16 KiB, compressed per request with :mod:`lzma` in ~2 ms) + suffix. The same token gives the same
bytes, so HTTP Range, the ETag and the SHA-256 work as for the uncompressed image.

The parts are made in a background thread (lowered CPU priority) the first time an image is asked for, or
ahead of time by ``guardian-cloud edge-image-xz``; a lock file in the cache directory keeps two processes
from making them twice and carries the progress, so every process of the cloud can report it. The parts
are keyed by the generic image's identity (size, mtime, inode), so they survive a restart and a replaced
image is compressed anew; the parts of other images are removed once the new ones are complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import lzma
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cloud.core.config import CloudSettings
from cloud.services.edge_image import (
    CHUNK,
    ChecksumCache,
    GenericImage,
    ImageUnavailable,
    PersonalisedImage,
    generic_image,
    read_chunks,
)
from guardian.runtime.logging import get_logger

PRESET = 6  # xz's default: what `xz` would make; decoding needs ~9 MiB of memory
FORMAT_VERSION = 1
_PARTS = ("prefix", "suffix")
log = get_logger("cloud.edge_image")


class CompressedImagePreparing(ImageUnavailable):
    """The generic image's compressed parts are still being made; ``progress`` is the share done (0..1)."""

    code = "edge_image_preparing"

    def __init__(self, progress: float) -> None:
        super().__init__(f"the compressed image is being prepared ({progress:.0%}); try again shortly",
                         headers={"Retry-After": "30"})
        self.progress = progress


@dataclass(frozen=True)
class Part:
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class CompressedParts:
    """The generic image's two compressed streams, around the slot's span ``[span[0], span[1])``."""

    key: str
    span: tuple[int, int]
    prefix: Part
    suffix: Part
    _prefix_hash: list[Any] = field(default_factory=list, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False)

    def prefix_hash(self) -> Any:
        """SHA-256 state over the prefix stream, computed once per process."""
        with self._lock:
            if not self._prefix_hash:
                digest = hashlib.sha256()
                for block in read_chunks(self.prefix.path, 0, self.prefix.size):
                    digest.update(block)
                self._prefix_hash.append(digest)
            return self._prefix_hash[0].copy()


def slot_span(image: GenericImage) -> tuple[int, int]:
    """From the slot's first byte to its last (a fragmented slot's gaps ride along in the slot's stream)."""
    return image.slot.start, max(offset + length for offset, length in image.slot.extents)


def cache_dir(settings: CloudSettings) -> Path:
    """``edge_image.xz_cache_dir``; ImageUnavailable when this cloud has none (no .img.xz download then)."""
    if settings.edge_image.xz_cache_dir is None:
        raise ImageUnavailable("this cloud offers no compressed image: edge_image.xz_cache_dir is not set")
    return settings.edge_image.xz_cache_dir


def _key(image: GenericImage) -> str:
    return f"{image.path.stem}-{image.identity}"


def _files(directory: Path, key: str) -> dict[str, Path]:
    return {name: directory / f"{key}.{name}" for name in ("prefix.xz", "suffix.xz", "json", "lock")}


def lock_path(image: GenericImage, directory: Path) -> Path:
    """The lock file its maker holds while making ``image``'s parts (it carries the progress)."""
    return _files(directory, _key(image))["lock"]


_loaded: dict[tuple[Path, str], CompressedParts] = {}  # read once per process (and their prefix hash kept)


def load_parts(image: GenericImage, directory: Path) -> CompressedParts | None:
    """The complete parts of ``image`` in ``directory``, or None (absent, incomplete, or of another layout)."""
    key = _key(image)
    known = _loaded.get((directory, key))
    if known is not None and all(_size(part.path) == part.size for part in (known.prefix, known.suffix)):
        return known
    files = _files(directory, key)
    try:
        meta = json.loads(files["json"].read_text())
        parts = {name: Part(files[f"{name}.xz"], int(meta[name]["size"]), str(meta[name]["sha256"])) for name in _PARTS}
        if (meta["format"], meta["key"], tuple(meta["span"])) != (FORMAT_VERSION, key, slot_span(image)):
            return None
        if any(part.path.stat().st_size != part.size for part in parts.values()):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    loaded = _loaded[(directory, key)] = CompressedParts(key=key, span=slot_span(image), prefix=parts["prefix"],
                                                         suffix=parts["suffix"])
    return loaded


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _compress_part(source: BinaryIO, start: int, end: int, target: Path, advance: Callable[[int], None]) -> Part:
    """``source[start:end]`` as one xz stream in ``target`` (written beside it, then renamed)."""
    compressor = lzma.LZMACompressor(format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=PRESET)
    digest = hashlib.sha256()
    size = 0
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as out:

        def emit(data: bytes) -> None:
            nonlocal size
            out.write(data)
            digest.update(data)
            size += len(data)

        source.seek(start)
        position = start
        while position < end:
            block = source.read(min(CHUNK, end - position))
            if not block:
                raise OSError("the edge image became shorter while being compressed")
            position += len(block)
            emit(compressor.compress(block))
            advance(len(block))
        emit(compressor.flush())
        out.flush()
        os.fsync(out.fileno())
    partial.replace(target)
    return Part(target, size, digest.hexdigest())


def _write_progress(fd: int, done: int, total: int) -> None:
    os.pwrite(fd, f"{done:020d} {total:020d}\n".encode(), 0)


def _read_progress(lock_file: Path) -> float:
    try:
        done, total = (int(n) for n in lock_file.read_text().split())
    except (OSError, ValueError):
        return 0.0
    return min(done / total, 1.0) if total else 0.0


def compress(image: GenericImage, directory: Path,
             on_progress: Callable[[int, int], None] | None = None) -> CompressedParts | None:
    """Make ``image``'s compressed parts in ``directory`` (nothing when they are complete already).

    Holds the directory's lock for the image while working (waits for another maker, then finds its parts);
    ``on_progress(done, total)``: bytes of the image compressed so far, also written into the lock file."""
    _usable(directory)
    files = _files(directory, _key(image))
    try:
        fd = os.open(files["lock"], os.O_RDWR | os.O_CREAT, 0o640)
    except OSError as error:
        raise _unusable(directory, error) from error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if (ready := load_parts(image, directory)) is not None:
            log.info("edge_image_xz_present", key=_key(image))  # made before, or by another process meanwhile
            return ready
        start, end = slot_span(image)
        total = start + image.size - end
        done = 0
        # Every whole percent, at most every 64 MiB and at least 1 MiB apart: a small image moves too.
        step = max(CHUNK, min(64 * CHUNK, total // 100))

        def advance(count: int) -> None:
            nonlocal done
            before, done = done, done + count
            if done == total or before // step != done // step:
                _write_progress(fd, done, total)
                if on_progress is not None:
                    on_progress(done, total)

        _write_progress(fd, 0, total)
        log.info("edge_image_xz_started", key=_key(image), size=image.size)
        with image.path.open("rb") as source:
            prefix = _compress_part(source, 0, start, files["prefix.xz"], advance)
            suffix = _compress_part(source, end, image.size, files["suffix.xz"], advance)
        meta = {"format": FORMAT_VERSION, "key": _key(image), "span": [start, end], "image_size": image.size,
                "prefix": {"size": prefix.size, "sha256": prefix.sha256},
                "suffix": {"size": suffix.size, "sha256": suffix.sha256}}
        partial = files["json"].with_name(files["json"].name + ".partial")
        partial.write_text(json.dumps(meta, indent=2) + "\n")
        partial.replace(files["json"])  # its presence says the parts are complete
        log.info("edge_image_xz_ready", key=_key(image), prefix_bytes=prefix.size, suffix_bytes=suffix.size)
        _remove_others(directory, _key(image))
        return load_parts(image, directory)
    except OSError as error:
        log.error("edge_image_xz_failed", key=_key(image), reason=str(error))
        raise ImageUnavailable(f"the compressed image could not be made in {directory}: {error}") from error
    finally:
        os.close(fd)  # releases the lock


def _usable(directory: Path) -> None:
    """The cache directory, made if missing; ImageUnavailable naming the setting when it cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(13, "not writable")
    except OSError as error:
        raise _unusable(directory, error) from error


def _unusable(directory: Path, error: OSError) -> ImageUnavailable:
    log.error("edge_image_xz_cache_unusable", directory=str(directory), reason=error.strerror)
    return ImageUnavailable(f"the compressed image cannot be kept in {directory} (edge_image.xz_cache_dir): "
                            f"{error.strerror}")


_OURS = re.compile(r"^.+-\d+-\d+-\d+\.(prefix\.xz|suffix\.xz|json|lock)(\.partial)?$")  # _key() + a part's name


def _remove_others(directory: Path, key: str) -> None:
    """The parts of images no longer configured (a replaced image): nothing serves them any more."""
    for path in directory.iterdir():
        if _OURS.match(path.name) and not path.name.startswith(f"{key}."):
            with contextlib.suppress(OSError):
                path.unlink()


@dataclass
class _Job:
    """One background compression in this process."""

    thread: threading.Thread | None = None
    done: threading.Event = field(default_factory=threading.Event)
    error: ImageUnavailable | None = None


_jobs: dict[tuple[Path, str], _Job] = {}
_jobs_lock = threading.Lock()


def _run(image: GenericImage, directory: Path, job: _Job) -> None:
    with contextlib.suppress(OSError, AttributeError):  # a background job: leave the cores to requests
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    try:
        compress(image, directory)
    except ImageUnavailable as error:
        job.error = error  # kept: retried after a restart or for another image, not per request
    except Exception as error:  # a thread's end: reported to the requests, not lost
        log.exception("edge_image_xz_failed", reason=str(error))
        job.error = ImageUnavailable(f"the compressed image could not be made: {error}")
    finally:
        job.done.set()


def parts_or_progress(image: GenericImage, directory: Path) -> CompressedParts:
    """The image's compressed parts, or CompressedImagePreparing while they are made (started here if no
    process is making them)."""
    if (ready := load_parts(image, directory)) is not None:
        return ready
    with _jobs_lock:
        job = _jobs.get((directory, _key(image)))
        if job is not None and job.error is not None:
            raise job.error
        if job is None or (job.done.is_set() and job.error is None):
            _usable(directory)  # a configuration error is told at once, not after a job
            lock_file = lock_path(image, directory)
            if _held_elsewhere(lock_file):
                raise CompressedImagePreparing(_read_progress(lock_file))
            job = _jobs[(directory, _key(image))] = _Job()
            job.thread = threading.Thread(target=_run, args=(image, directory, job), name="edge-image-xz", daemon=True)
            job.thread.start()
    if job.done.is_set() and (ready := load_parts(image, directory)) is not None:
        return ready
    raise CompressedImagePreparing(_read_progress(lock_path(image, directory)))  # whichever process makes them


def _held_elsewhere(lock_file: Path) -> bool:
    """Whether another process is making these parts (it holds the lock)."""
    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def wait_prepared(settings: CloudSettings, timeout: float | None = None) -> bool:
    """Wait for this process's background compression of the configured image (tests, benchmarks)."""
    assert settings.edge_image.path is not None
    key = (cache_dir(settings), _key(generic_image(settings.edge_image.path)))
    with _jobs_lock:
        job = _jobs.get(key)
    return job is None or job.done.wait(timeout)


_checksums = ChecksumCache()  # of .img.xz files, apart from the raw images'


@dataclass(frozen=True)
class CompressedImage:
    """One token's ``.img.xz``: the prefix stream, the personalised slot's stream, the suffix stream."""

    personalised: PersonalisedImage
    parts: CompressedParts
    slot_stream: bytes

    @classmethod
    def of(cls, personalised: PersonalisedImage, parts: CompressedParts) -> CompressedImage:
        start, end = parts.span
        slot = b"".join(personalised.read(start, end))
        return cls(personalised, parts, lzma.compress(slot, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=PRESET))

    @property
    def size(self) -> int:
        return self.parts.prefix.size + len(self.slot_stream) + self.parts.suffix.size

    @property
    def image_size(self) -> int:
        return self.personalised.size

    @property
    def etag(self) -> str:
        """Strong validator over the exact bytes: the parts' hashes and this token's slot stream."""
        digest = hashlib.sha256(f"xz\0{self.parts.prefix.sha256}\0{self.parts.suffix.sha256}\0".encode() + self.slot_stream)
        return f'"{digest.hexdigest()[:32]}"'

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive) of the ``.img.xz``, in chunks."""
        slot_start = self.parts.prefix.size
        suffix_start = slot_start + len(self.slot_stream)
        if start < slot_start:
            yield from read_chunks(self.parts.prefix.path, start, min(end, slot_start))
        if start < suffix_start and end > slot_start:
            yield self.slot_stream[max(start - slot_start, 0):end - slot_start]
        if end > suffix_start:
            yield from read_chunks(self.parts.suffix.path, max(start - suffix_start, 0), end - suffix_start)

    def sha256(self) -> str:
        """Hex SHA-256 of the ``.img.xz`` (one pass over the suffix stream; cached by ETag)."""
        def compute() -> str:
            digest = self.parts.prefix_hash()
            digest.update(self.slot_stream)
            for block in read_chunks(self.parts.suffix.path, 0, self.parts.suffix.size):
                digest.update(block)
            return str(digest.hexdigest())

        return _checksums.get(self.etag, compute)


def compressed(personalised: PersonalisedImage, settings: CloudSettings) -> CompressedImage:
    """``personalised`` as ``.img.xz``; CompressedImagePreparing until the generic image's parts are made."""
    return CompressedImage.of(personalised, parts_or_progress(personalised.image, cache_dir(settings)))


def reset() -> None:
    """Forget this process's jobs and checksums (tests, benchmarks); running jobs finish on their own."""
    with _jobs_lock:
        _jobs.clear()
        _loaded.clear()
    _checksums.clear()
