"""The relay's Archive gRPC service: encrypted clips from edges → spool → object store under their CID.

The relay only ever holds ciphertext (the edge encrypts, docs/archive-format.md); it has no key.

Upload (client stream of :class:`ArchiveChunk`):

1. The device is identified like on the Uplink (tunnel address or client certificate), never by the
   payload; partial uploads live in ``<spool>/<device>/<upload_id>.part``, so one device cannot touch
   another's upload.
2. **Quota first**: the tenant's plan limit and use come from the cloud (``GET /api/v1/relay/archive-quota``,
   signed), plus what this relay stored and has not reported yet. An upload whose ``total_size`` does
   not fit is answered OVER_QUOTA before a byte is written.
3. Chunks are appended at exactly the offset the relay holds (``Status`` tells the edge where to resume);
   anything else is refused with FAILED and the offset held, so a resume can never corrupt a file.
4. When the last byte arrived: the CIDv1 (raw, sha2-256) is computed, the quota checked again (under
   a lock, so concurrent uploads cannot overshoot together), the object PUT under its CID, verified
   (HEAD size, and read back and hashed), the spool file deleted, the record kept in the relay's
   database and reported to the cloud as an :class:`ArchiveRecord`. If the cloud refuses it over
   quota, the object is deleted again: nothing partial or unaccounted stays in the store.
5. A completed upload id answers Status with its full size and a repeated Upload with the same
   receipt (the edge may have lost the first one).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import grpc
import httpx
from google.protobuf import json_format
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from agents.relay.archive_store import ObjectStore, StoreError, cid_for_digest, digest_of_cid
from agents.relay.db.tables import ArchiveObject, utcnow
from guardian.contracts import auth
from guardian.contracts.cloud.v1 import ingest_pb2
from guardian.contracts.edge.v1 import archive_pb2, archive_pb2_grpc
from guardian.runtime.errors import GuardianError
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

if TYPE_CHECKING:
    from agents.relay.config import RelaySettings

log = get_logger("guardian.relay.archive")

QUOTA_PATH = "/api/v1/relay/archive-quota"
INGEST_PATH = "/api/v1/ingest"
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
Receipt = archive_pb2.ArchiveReceipt
Identify = Callable[[grpc.aio.ServicerContext], str | None]


class QuotaUnknown(GuardianError):
    pass


@dataclass(frozen=True)
class Quota:
    max_bytes: int
    used_bytes: int  # as the cloud counts it (reported records)


class QuotaSource(Protocol):
    async def quota(self) -> Quota: ...


class ArchiveReporter(Protocol):
    async def report(self, records: list[ingest_pb2.ArchiveRecord]) -> int:
        """Send ``records``; returns how many the cloud refused over quota (raises when unreachable)."""
        ...


class CloudArchiveApi:
    """Signed requests to the cloud for the archive: the tenant's quota, and records of stored objects."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        key: auth.Ed25519PrivateKey,
        relay_id: str,
        scheme: auth.SignatureScheme = "legacy",
    ) -> None:
        self.http, self.key, self.relay_id, self.scheme = http, key, relay_id, scheme

    @classmethod
    def from_cloud_client(cls, client: object) -> CloudArchiveApi:
        """Share the relay forwarder's :class:`~agents.relay.forwarder.CloudClient` (its HTTP pool and key)."""
        settings = client.settings  # type: ignore[attr-defined]
        return cls(client.http, client.key, settings.relay_id, settings.request_signature)  # type: ignore[attr-defined]

    async def _request(self, method: str, path: str, body: bytes = b"") -> httpx.Response:
        headers = auth.sign_relay_request(
            self.key, relay_id=self.relay_id, method=method, path=path, body=body, scheme=self.scheme
        )
        if body:
            headers["Content-Type"] = "application/json"
        return await self.http.request(method, path, content=body or None, headers=headers)

    async def quota(self) -> Quota:
        response = await self._request("GET", QUOTA_PATH)
        if response.status_code != 200:
            raise QuotaUnknown(f"cloud answered {response.status_code} for the archive quota")
        data = response.json()
        return Quota(max_bytes=int(data["max_archive_bytes"]), used_bytes=int(data["archive_bytes_used"]))

    async def report(self, records: list[ingest_pb2.ArchiveRecord]) -> int:
        batch = ingest_pb2.IngestBatch(relay_id=self.relay_id, archives=records)
        response = await self._request("POST", INGEST_PATH, json_format.MessageToJson(batch, indent=None).encode())
        if response.status_code // 100 != 2:
            raise QuotaUnknown(f"cloud answered {response.status_code} to the archive records")
        return int(response.headers.get("X-Guardian-Rejected-Archives", "0"))


class _CachedQuota:
    def __init__(self, source: QuotaSource, refresh_s: float) -> None:
        self.source, self.refresh_s = source, refresh_s
        self.value: Quota | None = None
        self.fetched = 0.0

    async def get(self, fresh: bool = False) -> Quota:
        if fresh or self.value is None or time.monotonic() - self.fetched > self.refresh_s:
            try:
                self.value, self.fetched = await self.source.quota(), time.monotonic()
            except (httpx.HTTPError, QuotaUnknown, KeyError, ValueError) as exc:
                if self.value is None:
                    raise QuotaUnknown(f"archive quota unknown ({exc}); retry later") from exc
                log.warning("archive_quota_stale", error=str(exc))
        assert self.value is not None
        return self.value


class ArchiveService(archive_pb2_grpc.ArchiveServicer):
    def __init__(
        self,
        sessions: sessionmaker,
        store: ObjectStore,
        quota: QuotaSource,
        reporter: ArchiveReporter,
        identify: Identify,
        spool_dir: Path,
        metrics: AgentMetrics,
        *,
        max_object_bytes: int = 4 * 1024**3,
        verify_reread: bool = True,
        quota_refresh_s: float = 30.0,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.quota = _CachedQuota(quota, quota_refresh_s)
        self.reporter = reporter
        self.identify = identify
        self.spool = spool_dir
        self.max_object_bytes = max_object_bytes
        self.verify_reread = verify_reread
        self._lock = asyncio.Lock()
        self.uploads = metrics.counter("archive", "uploads_total", "Archive uploads by result.", ("result",))
        for result in ("stored", "over_quota", "failed"):
            self.uploads.labels(result)
        self.bytes = metrics.counter("archive", "stored_bytes_total", "Ciphertext bytes put in the object store.")

    # --- helpers --------------------------------------------------------------------------------------

    def _paths(self, device_id: str, upload_id: str) -> tuple[Path, Path]:
        folder = self.spool / device_id
        return folder / f"{upload_id}.part", folder / f"{upload_id}.json"

    def _completed(self, device_id: str, upload_id: str) -> ArchiveObject | None:
        with self.sessions() as session:
            return session.scalars(select(ArchiveObject).where(
                ArchiveObject.upload_id == upload_id, ArchiveObject.device_id == device_id)).first()

    def _unreported_bytes(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.coalesce(func.sum(ArchiveObject.size), 0))
                                      .where(ArchiveObject.reported_at.is_(None))) or 0)

    async def _room(self, size: int, fresh: bool = False) -> tuple[bool, str]:
        quota = await self.quota.get(fresh=fresh)
        used = quota.used_bytes + await asyncio.to_thread(self._unreported_bytes)
        if used + size > quota.max_bytes:
            return False, (f"archive quota exceeded: {used} of {quota.max_bytes} bytes used, "
                           f"this clip needs {size} more")
        return True, ""

    @staticmethod
    def _discard(*paths: Path) -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    async def _device(self, context: grpc.aio.ServicerContext) -> str:
        device_id = await asyncio.to_thread(self.identify, context)
        if device_id is None:
            log.warning("archive_refused", peer=context.peer())
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "not an enrolled device")
        assert device_id is not None
        return device_id

    # --- gRPC -------------------------------------------------------------------------------------------

    async def Status(
        self, request: archive_pb2.ArchiveStatusRequest, context: grpc.aio.ServicerContext
    ) -> archive_pb2.ArchiveStatus:
        device_id = await self._device(context)
        if not _UPLOAD_ID.match(request.upload_id):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad upload id")
        done = await asyncio.to_thread(self._completed, device_id, request.upload_id)
        if done is not None:
            return archive_pb2.ArchiveStatus(upload_id=request.upload_id, received=done.size)
        part, _ = self._paths(device_id, request.upload_id)
        received = part.stat().st_size if part.exists() else 0
        return archive_pb2.ArchiveStatus(upload_id=request.upload_id, received=received)

    async def Upload(
        self, request_iterator: AsyncIterator[archive_pb2.ArchiveChunk], context: grpc.aio.ServicerContext
    ) -> Receipt:
        device_id = await self._device(context)
        first = await anext(aiter(request_iterator), None)
        if first is None:
            return self._failed("", "empty upload stream")
        upload_id, event_id, total = first.upload_id, first.event_id, first.total_size
        if not _UPLOAD_ID.match(upload_id):
            return self._failed(upload_id, "bad upload id")
        try:
            uuid.UUID(event_id)
        except ValueError:
            return self._failed(upload_id, "event_id must be a UUID")
        if not 0 < total <= self.max_object_bytes:
            return self._failed(upload_id, f"total_size must be 1..{self.max_object_bytes} bytes")

        done = await asyncio.to_thread(self._completed, device_id, upload_id)
        if done is not None:  # the edge lost our receipt: answer it again
            return Receipt(upload_id=upload_id, cid=done.cid, size=done.size, result=Receipt.STORED)

        part, meta = self._paths(device_id, upload_id)
        part.parent.mkdir(parents=True, exist_ok=True)
        if meta.exists():
            held = json.loads(meta.read_text())
            if held != {"event_id": event_id, "total_size": total}:
                return self._failed(upload_id, "upload id already used for another clip")
        try:
            fits, reason = await self._room(total)
        except QuotaUnknown as exc:
            return self._failed(upload_id, str(exc))
        if not fits:
            self._discard(part, meta)
            self.uploads.labels("over_quota").inc()
            log.info("archive_over_quota", device=device_id, event_id=event_id, size=total)
            return Receipt(upload_id=upload_id, size=total, result=Receipt.OVER_QUOTA, reason=reason)
        if not meta.exists():
            meta.write_text(json.dumps({"event_id": event_id, "total_size": total}))

        position = part.stat().st_size if part.exists() else 0
        chunk: archive_pb2.ArchiveChunk | None = first
        last = False
        with part.open("ab") as handle:
            try:
                while chunk is not None:
                    if chunk.upload_id != upload_id or chunk.offset != position:
                        return self._failed(upload_id, f"chunk at offset {chunk.offset}, but the relay holds "
                                                       f"{position} bytes: ask Status and resume from there")
                    if position + len(chunk.data) > total:
                        return self._failed(upload_id, "more data than total_size")
                    if chunk.data:
                        handle.write(chunk.data)
                        position += len(chunk.data)
                    if chunk.last:
                        last = True
                        break
                    chunk = await anext(aiter(request_iterator), None)
            finally:
                handle.flush()
                os.fsync(handle.fileno())
        if not last or position != total:
            return self._failed(upload_id, f"stream ended at {position} of {total} bytes: resume from there")
        return await self._finish(device_id, event_id, upload_id, part, meta, total)

    def _failed(self, upload_id: str, reason: str) -> Receipt:
        self.uploads.labels("failed").inc()
        log.warning("archive_upload_failed", upload=upload_id, reason=reason)
        return Receipt(upload_id=upload_id, result=Receipt.FAILED, reason=reason)

    async def _finish(self, device_id: str, event_id: str, upload_id: str, part: Path, meta: Path,
                      size: int) -> Receipt:
        digest = await asyncio.to_thread(_sha256_file, part)
        cid = cid_for_digest(digest)
        async with self._lock:  # one finalisation at a time: the quota check and the PUT are one step
            try:
                fits, reason = await self._room(size, fresh=True)
            except QuotaUnknown as exc:
                return self._failed(upload_id, str(exc))
            if not fits:
                self._discard(part, meta)
                self.uploads.labels("over_quota").inc()
                return Receipt(upload_id=upload_id, size=size, result=Receipt.OVER_QUOTA, reason=reason)
            try:
                await asyncio.to_thread(self._put_verified, cid, part, size)
            except StoreError as exc:
                return self._failed(upload_id, f"object store: {exc}")
            record = ArchiveObject(cid=cid, upload_id=upload_id, device_id=device_id, event_id=event_id,
                                   size=size, stored_at=utcnow())
            await asyncio.to_thread(self._save, record)
            self._discard(part, meta)
            refused = await self._report([record])
        if refused:
            return Receipt(upload_id=upload_id, size=size, result=Receipt.OVER_QUOTA,
                           reason="archive quota exceeded (the cloud refused the record); the object was removed")
        self.uploads.labels("stored").inc()
        self.bytes.inc(size)
        log.info("archive_stored", device=device_id, event_id=event_id, cid=cid, size=size)
        return Receipt(upload_id=upload_id, cid=cid, size=size, result=Receipt.STORED)

    def _put_verified(self, cid: str, part: Path, size: int) -> None:
        self.store.put_file(cid, part)
        held = self.store.size(cid)
        if held != size:
            self.store.delete(cid)
            raise StoreError(f"stored object has {held} bytes, expected {size}")
        if self.verify_reread:
            digest = hashlib.sha256()
            for block in self.store.read(cid):
                digest.update(block)
            if digest.digest() != digest_of_cid(cid):
                self.store.delete(cid)
                raise StoreError("stored object does not hash to its CID")

    def _save(self, record: ArchiveObject) -> None:
        with self.sessions.begin() as session:
            session.merge(record)

    async def _report(self, records: list[ArchiveObject]) -> int:
        """Report ``records`` to the cloud; refused ones are deleted from the store. Returns the refused count."""
        messages = []
        for r in records:
            m = ingest_pb2.ArchiveRecord(event_id=r.event_id, device_id=r.device_id, cid=r.cid, size=r.size)
            m.stored_at.FromDatetime(r.stored_at)
            messages.append(m)
        try:
            refused = await self.reporter.report(messages)
        except (httpx.HTTPError, QuotaUnknown) as exc:
            log.warning("archive_report_deferred", error=str(exc), records=len(records))
            return 0
        # The cloud refuses the tail of a batch that does not fit: one record per call keeps that exact.
        if refused and len(records) == 1:
            await asyncio.to_thread(self.store.delete, records[0].cid)
            await asyncio.to_thread(self._forget, records[0].cid)
            self.uploads.labels("over_quota").inc()
            log.warning("archive_refused_by_cloud", cid=records[0].cid)
            return refused
        await asyncio.to_thread(self._mark_reported, [r.cid for r in records])
        return refused

    def _forget(self, cid: str) -> None:
        with self.sessions.begin() as session:
            row = session.get(ArchiveObject, cid)
            if row is not None:
                session.delete(row)

    def _mark_reported(self, cids: list[str]) -> None:
        with self.sessions.begin() as session:
            for row in session.scalars(select(ArchiveObject).where(ArchiveObject.cid.in_(cids))):
                row.reported_at = utcnow()

    def _unreported(self) -> list[ArchiveObject]:
        with self.sessions() as session:
            return list(session.scalars(select(ArchiveObject).where(ArchiveObject.reported_at.is_(None))
                                        .order_by(ArchiveObject.stored_at).limit(100)))

    async def report_pending(self) -> int:
        """Retry records the cloud has not acknowledged yet (one by one); returns how many were sent."""
        sent = 0
        for record in await asyncio.to_thread(self._unreported):
            async with self._lock:
                await self._report([record])
            sent += 1
        return sent

    async def run_reports(self, interval_s: float, progress: Callable[[], None] = lambda: None) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.report_pending()
            except Exception as exc:  # retried next round
                log.error("archive_report_failed", error=str(exc))
            progress()


def _sha256_file(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.digest()


def make_archive_service(settings: RelaySettings, sessions: sessionmaker, cloud_client: object, identify: Identify,
                         metrics: AgentMetrics) -> ArchiveService:
    """The service as the relay agent builds it from ``[archive]`` and its cloud client."""
    from agents.relay.archive_store import S3ObjectStore

    a = settings.archive
    assert a.secret_access_key_file is not None
    store = S3ObjectStore(a.endpoint_url, a.bucket, a.access_key_id,
                          a.secret_access_key_file.read_text().strip(), a.region)
    api = CloudArchiveApi.from_cloud_client(cloud_client)
    return ArchiveService(sessions, store, api, api, identify, a.spool_dir, metrics,
                          max_object_bytes=a.max_object_bytes, verify_reread=a.verify_reread,
                          quota_refresh_s=a.quota_refresh_s)

