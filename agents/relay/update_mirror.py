"""The update mirror (issue #19): the release files systemd-sysupdate fetches, served to this relay's edges
on its tunnel address and cached on the relay's data partition. An edge needs no route out but its tunnel,
and a wave of edges behind one relay downloads each file from the origin once.

    GET /{image}/SHA256SUMS        the release index: every published file and its SHA-256
    GET /{image}/SHA256SUMS.gpg    its detached signature
    GET /{image}/{file}            a file the index lists

The edge trusts the mirror for nothing: systemd-pull checks the signature against the release key in its
image, then each file's hash. The mirror checks the hashes too, so a corrupt or tampered download is never
cached: a file is stored (content-addressed, ``objects/<sha256>``) only when its bytes match the index, and
the last byte of a download goes to the edges only then: a download that does not match ends their
transfers short.

**Index**: SHA256SUMS and its signature are fetched together and kept as a pair for ``index_ttl_s``. When
the origin cannot be reached, the last pair stored is served (the edges see no newer version, nothing
worse). A stored file that no image's index lists any more is deleted when an index is fetched.

**Files**: the first request for a file starts one download from the origin; every request for it while it
runs reads the growing file as it arrives. A download goes on when its edges leave (the next one will want
it too) and stops at shutdown; a partial file left by a crash is deleted at start.

**Answers**: 200; 404 ``not_found`` (an image not served, a name that is no file name, a file the index does
not list, an index the origin does not have); 502 ``origin_error`` (the origin unreachable or answering
otherwise, and nothing stored to answer with). Errors are JSON ``{"error", "detail"}``. No request is
logged: a download is one line.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agents.relay.config import UpdatesSettings
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.relay.updates")

SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.gpg"
# A release's file names (scripts/release-image.sh): no path, no leading dot.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]*")
# sha256sum's output: "<hash>  <name>" (text) or "<hash> *<name>" (binary).
_SUMS_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](\S+)")
_CHUNK = 1 << 20
_MAX_INDEX_BYTES = 1 << 20
_PARTIAL = ".partial-"


class _OriginError(Exception):
    """The origin could not give what was asked (unreachable, an unexpected status, a hash mismatch)."""


class _NotPublished(Exception):
    """The origin has no such file (404)."""


def parse_sums(sums: bytes) -> dict[str, str]:
    """File name → SHA-256 (lower case) from a SHA256SUMS file; lines of any other shape are skipped."""
    files: dict[str, str] = {}
    for line in sums.decode("utf-8", "replace").splitlines():
        match = _SUMS_LINE.fullmatch(line.strip())
        if match and _FILE_NAME.fullmatch(match[2]):
            files[match[2]] = match[1].lower()
    return files


@dataclass(frozen=True)
class ReleaseIndex:
    sums: bytes
    signature: bytes
    fetched_at: float  # time.monotonic(); -inf for one loaded from disk (asked for again at first use)

    @cached_property
    def files(self) -> dict[str, str]:
        return parse_sums(self.sums)


@dataclass
class _Download:
    """One file coming from the origin into ``partial``, read by every request for it meanwhile."""

    sha256: str
    partial: Path
    size: int | None = None  # the origin's Content-Length
    written: int = 0
    done: bool = False  # stored, hash matched
    error: str | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)  # headers in (or failed)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # replaced on every change

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class UpdateMirror:
    def __init__(self, settings: UpdatesSettings, metrics: AgentMetrics) -> None:
        self.settings = settings
        self.objects = settings.cache_dir / "objects"
        self.index_dir = settings.cache_dir / "index"
        self._indexes: dict[str, ReleaseIndex] = {}
        self._index_locks = {image: asyncio.Lock() for image in settings.images}
        self._downloads: dict[str, _Download] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        verify: object = str(settings.ca_file) if settings.ca_file else True
        self.http = httpx.AsyncClient(verify=verify, timeout=settings.timeout_s)  # type: ignore[arg-type]
        self.requests = metrics.counter(
            "updates", "requests_total",
            "Requests for update files by result: index (SHA256SUMS or its signature), hit (a file from the cache), "
            "miss (a file from the origin: a download started or joined), not_found, origin_error; stale_index counts "
            "the times the origin could not be reached and the last index stored was served instead.",
            ("result",),
        )
        self.bytes = metrics.counter(
            "updates", "bytes_total",
            "Update file bytes: from_origin (downloaded), to_edges (served, from cache or download).",
            ("direction",),
        )

    # -- start and stop --------------------------------------------------------------------------------------

    def open(self) -> None:
        """Create the cache, delete partial files a crash left, load the stored indexes."""
        self.objects.mkdir(parents=True, exist_ok=True)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        for partial in self.objects.glob(_PARTIAL + "*"):
            partial.unlink(missing_ok=True)
        for image in self.settings.images:
            stored = self.index_dir / f"{image}.json"
            try:
                data = json.loads(stored.read_bytes())
                self._indexes[image] = ReleaseIndex(
                    base64.b64decode(data["sums"]), base64.b64decode(data["signature"]), float("-inf")
                )
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("update_index_unreadable", image=image, error=str(exc))
        self._delete_unlisted()  # what a stop between storing an index and this clean-up left

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.http.aclose()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{image}/{name}", self._serve, methods=["GET"])])

    # -- requests ----------------------------------------------------------------------------------------------

    async def _serve(self, request: Request) -> Response:
        image, name = request.path_params["image"], request.path_params["name"]
        if image not in self._index_locks or not _FILE_NAME.fullmatch(name):
            return self._error(404, "not_found", "no such update file")
        try:
            index = await self._index(image)
        except _NotPublished:
            return self._error(404, "not_found", f"{image} is not published")
        except _OriginError as exc:
            return self._error(502, "origin_error", str(exc))
        if name in (SUMS, SIGNATURE):
            self.requests.labels("index").inc()
            body = index.sums if name == SUMS else index.signature
            self.bytes.labels("to_edges").inc(len(body))
            return Response(body, media_type="text/plain" if name == SUMS else "application/octet-stream",
                            headers={"Cache-Control": "no-cache"})
        sha256 = index.files.get(name)
        if sha256 is None:
            return self._error(404, "not_found", f"{name} is not in {image}'s release index")
        stored = self.objects / sha256
        if stored.exists():
            self.requests.labels("hit").inc()
            self.bytes.labels("to_edges").inc(stored.stat().st_size)
            return FileResponse(stored, media_type="application/octet-stream")
        self.requests.labels("miss").inc()
        download = self._downloads.get(sha256) or self._start_download(image, name, sha256)
        fd = os.open(download.partial, os.O_RDONLY)  # before any await: the file is renamed once stored
        try:
            await download.started.wait()
        except BaseException:
            os.close(fd)
            raise
        if download.error is not None and download.written == 0:
            os.close(fd)
            return self._error(502, "origin_error", download.error)
        headers = {"Content-Length": str(download.size)} if download.size is not None else {}
        return StreamingResponse(self._follow(download, fd), media_type="application/octet-stream", headers=headers)

    def _error(self, status: int, code: str, detail: str) -> JSONResponse:
        self.requests.labels(code).inc()
        return JSONResponse({"error": code, "detail": detail}, status_code=status)

    async def _follow(self, download: _Download, fd: int) -> AsyncIterator[bytes]:
        """The download's bytes as they arrive; the last byte only once the file's hash matched, so an edge
        never receives the whole of a file that does not match (its transfer ends short instead)."""
        position = 0
        try:
            while True:
                changed = download.changed
                available = download.written if download.done else download.written - 1
                if available > position:
                    data = await asyncio.to_thread(os.pread, fd, min(_CHUNK, available - position), position)
                    position += len(data)
                    self.bytes.labels("to_edges").inc(len(data))
                    yield data
                    continue
                if download.done:
                    return
                if download.error is not None:
                    raise ConnectionAbortedError(f"update file download failed: {download.error}")
                await changed.wait()
        finally:
            os.close(fd)

    # -- the index ---------------------------------------------------------------------------------------------

    async def _index(self, image: str) -> ReleaseIndex:
        current = self._indexes.get(image)
        if current is not None and time.monotonic() - current.fetched_at < self.settings.index_ttl_s:
            return current
        async with self._index_locks[image]:
            current = self._indexes.get(image)
            now = time.monotonic()
            if current is not None and now - current.fetched_at < self.settings.index_ttl_s:
                return current
            try:
                sums = await self._fetch_small(f"{image}/{SUMS}")
                signature = await self._fetch_small(f"{image}/{SIGNATURE}")
            except _OriginError as exc:
                if current is None:
                    raise
                log.warning("update_origin_unreachable", image=image, error=str(exc))
                self._indexes[image] = ReleaseIndex(current.sums, current.signature, now)  # ask again after the TTL
                self.requests.labels("stale_index").inc()
                return current
            index = ReleaseIndex(sums, signature, now)
            self._indexes[image] = index
            if current is None or (current.sums, current.signature) != (sums, signature):
                await asyncio.to_thread(self._store_index, image, index)
                await asyncio.to_thread(self._delete_unlisted)  # only a changed index can unlist a file
                log.info("update_index_fetched", image=image, files=len(index.files))
            return index

    async def _fetch_small(self, path: str) -> bytes:
        try:
            async with self.http.stream("GET", self.settings.origin + path) as response:
                if response.status_code == 404:
                    raise _NotPublished(path)
                if response.status_code != 200:
                    raise _OriginError(f"the origin answered {response.status_code} for {path}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_INDEX_BYTES:
                        raise _OriginError(f"{path} is larger than {_MAX_INDEX_BYTES} bytes")
                self.bytes.labels("from_origin").inc(len(body))
                return bytes(body)
        except httpx.HTTPError as exc:
            raise _OriginError(f"the origin could not be reached: {type(exc).__name__}") from None

    def _store_index(self, image: str, index: ReleaseIndex) -> None:
        data = {"sums": base64.b64encode(index.sums).decode(), "signature": base64.b64encode(index.signature).decode()}
        temporary = self.index_dir / f".{image}.json.new"
        temporary.write_text(json.dumps(data))
        os.replace(temporary, self.index_dir / f"{image}.json")

    def _delete_unlisted(self) -> None:
        listed = {sha256 for index in self._indexes.values() for sha256 in index.files.values()}
        for path in self.objects.iterdir():
            if path.name.startswith(_PARTIAL) or path.name in listed:
                continue
            path.unlink(missing_ok=True)
            log.info("update_file_deleted", sha256=path.name)

    # -- downloads ---------------------------------------------------------------------------------------------

    def _start_download(self, image: str, name: str, sha256: str) -> _Download:
        partial = self.objects / f"{_PARTIAL}{sha256}"
        download = _Download(sha256, partial)
        sink = partial.open("wb")  # now, so that the requests joining it can open it at once
        self._downloads[sha256] = download
        task = asyncio.ensure_future(self._download(image, name, download, sink))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return download

    async def _download(self, image: str, name: str, download: _Download, sink: BinaryIO) -> None:
        started = time.monotonic()
        digest = hashlib.sha256()
        try:
            with sink:
                async with self.http.stream("GET", f"{self.settings.origin}{image}/{name}") as response:
                    if response.status_code != 200:
                        raise _OriginError(f"the origin answered {response.status_code} for {image}/{name}")
                    length = response.headers.get("content-length", "")
                    download.size = int(length) if length.isdigit() else None
                    download.started.set()
                    async for chunk in response.aiter_bytes(_CHUNK):
                        await asyncio.to_thread(_append, sink, digest, chunk)
                        download.written += len(chunk)
                        self.bytes.labels("from_origin").inc(len(chunk))
                        download.notify()
                await asyncio.to_thread(_flush, sink)
            if download.size is not None and download.written != download.size:
                raise _OriginError(f"the origin sent {download.written} of {download.size} bytes")
            if digest.hexdigest() != download.sha256:
                raise _OriginError(f"{image}/{name} does not match its SHA-256 in the release index")
            os.replace(download.partial, self.objects / download.sha256)
            download.done = True
            log.info("update_file_stored", image=image, file=name, bytes=download.written,
                     seconds=round(time.monotonic() - started, 1))
        except (_OriginError, httpx.HTTPError, OSError) as exc:
            download.error = str(exc) if isinstance(exc, _OriginError) else f"{type(exc).__name__}: {exc}"
            log.warning("update_file_failed", image=image, file=name, error=download.error)
            download.partial.unlink(missing_ok=True)
        except asyncio.CancelledError:
            download.error = "the relay stopped"
            download.partial.unlink(missing_ok=True)
            raise
        finally:
            self._downloads.pop(download.sha256, None)
            download.started.set()
            download.notify()


def _append(sink: BinaryIO, digest: hashlib._Hash, chunk: bytes) -> None:
    sink.write(chunk)
    digest.update(chunk)


def _flush(sink: BinaryIO) -> None:
    sink.flush()
    os.fsync(sink.fileno())
