"""The archive uploader: queue → encrypted copy → the relay's Archive service, resumable, with backoff.

One item at a time (the link is shared with live traffic):

1. ``queued``: the clip is encrypted once into the spool (``<upload_id>.garc``) with the stored KEK; its
   size and SHA-256 are kept, the item becomes ``uploading``. Encrypting once matters: a resume must
   send the same bytes (a re-encryption would have a new data key).
2. ``Status(upload_id)`` tells how many bytes the relay holds; the upload continues from there in
   ``upload_chunk_bytes`` messages, the last one flagged.
3. The receipt decides: STORED with the CID the edge computed itself from its hash → ``stored`` (the
   spool copy is deleted); OVER_QUOTA → ``over_quota`` with the relay's reason (copy deleted);
   FAILED or a transport error → retried with exponential backoff and full jitter, ``failed`` after
   ``max_attempts``.

The secret is never here: only the KEK file is read, and nothing from it but the ciphertext leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import grpc
from multiformats import CID, multihash
from sqlalchemy.orm import sessionmaker

from agents.edge.archive import queue
from agents.edge.archive.config import ArchiveSettings
from agents.edge.archive.crypto import KeyEncryptionKey, encrypt_stream
from agents.edge.archive.keystore import NoArchiveKey
from agents.edge.db.tables import ArchiveItem, EventRow
from guardian.contracts.edge.v1 import archive_pb2, archive_pb2_grpc
from guardian.runtime.backoff import backoff_delay
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.edge.archive")
Receipt = archive_pb2.ArchiveReceipt


def cid_for_sha256(hex_digest: str) -> str:
    return str(CID("base32", 1, "raw", multihash.wrap(bytes.fromhex(hex_digest), "sha2-256")))


class ArchiveUploader:
    def __init__(
        self,
        sessions: sessionmaker,
        data_dir: Path,
        settings: ArchiveSettings,
        load_kek: Callable[[], KeyEncryptionKey],
        channel: grpc.aio.Channel,
        metrics: AgentMetrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.data_dir = data_dir
        self.settings = settings
        self.load_kek = load_kek
        self.stub = archive_pb2_grpc.ArchiveStub(channel)
        self.spool = settings.spool_dir or data_dir / "archive" / "outgoing"
        metrics = metrics or AgentMetrics("edge")
        self.results = metrics.counter("archive", "items_total", "Archive items finished, by status.", ("status",))
        for status in ("stored", "over_quota", "failed"):
            self.results.labels(status)
        self.sent = metrics.counter("archive", "sent_bytes_total", "Ciphertext bytes sent to the relay.")
        self.wake = asyncio.Event()

    # --- queue ------------------------------------------------------------------------------------------

    def scan(self) -> int:
        with self.sessions.begin() as session:
            return len(queue.enqueue_matching(session, self.settings))

    def _due(self) -> ArchiveItem | None:
        with self.sessions() as session:
            return queue.next_due(session)

    def _update(self, event_id: str, **values: object) -> None:
        with self.sessions.begin() as session:
            item = session.get(ArchiveItem, event_id)
            assert item is not None
            for key, value in values.items():
                setattr(item, key, value)
            item.updated_at = queue.now()

    def _retry_later(self, item: ArchiveItem, reason: str, count: bool = True) -> None:
        attempts = item.attempts + (1 if count else 0)
        if attempts >= self.settings.max_attempts:
            self._finish(item, "failed", reason=f"gave up after {attempts} attempts: {reason}")
            return
        delay = backoff_delay(attempts, self.settings.backoff_base_s, self.settings.backoff_max_s)
        self._update(item.event_id, attempts=attempts, reason=reason,
                     next_attempt_at=queue.now() + timedelta(seconds=max(delay, 0.05)))
        log.warning("archive_retry", event_id=item.event_id, reason=reason, attempt=attempts, retry_in_s=round(delay, 2))

    def _finish(self, item: ArchiveItem, status: str, **values: object) -> None:
        if item.ciphertext:
            Path(item.ciphertext).unlink(missing_ok=True)
        self._update(item.event_id, status=status, ciphertext="", **values)
        self.results.labels(status).inc()
        log.debug("archive_item_done", event_id=item.event_id, status=status, cid=values.get("cid", ""))

    # --- work -------------------------------------------------------------------------------------------

    def _encrypt(self, item: ArchiveItem) -> ArchiveItem | None:
        """Make the encrypted copy; None when the item cannot proceed (its state is updated)."""
        with self.sessions() as session:
            event = session.get(EventRow, item.event_id)
        clip = self.data_dir / event.clip_ref if event is not None and event.clip_ref else None
        if clip is None or not clip.is_file():
            self._finish(item, "failed", reason="the event's clip is not on this appliance (deleted by retention?)")
            return None
        try:
            kek = self.load_kek()
        except NoArchiveKey as exc:
            self._retry_later(item, str(exc), count=False)
            return None
        self.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.spool / f"{item.upload_id}.garc"
        tmp = target.with_suffix(".tmp")
        with clip.open("rb") as src, tmp.open("wb") as dst:
            digest = encrypt_stream(src, dst, kek, self.settings.chunk_size)
            dst.flush()
        tmp.replace(target)
        size = target.stat().st_size
        self._update(item.event_id, status="uploading", ciphertext=str(target), size=size, sha256=digest)
        with self.sessions() as session:
            return session.get(ArchiveItem, item.event_id)

    async def _chunks(self, item: ArchiveItem, offset: int) -> AsyncIterator[archive_pb2.ArchiveChunk]:
        step = self.settings.upload_chunk_bytes
        with open(item.ciphertext, "rb") as handle:
            handle.seek(offset)
            position = offset
            while True:
                data = await asyncio.to_thread(handle.read, step)
                last = position + len(data) >= item.size
                yield archive_pb2.ArchiveChunk(upload_id=item.upload_id, event_id=item.event_id,
                                               total_size=item.size, offset=position, data=data, last=last)
                position += len(data)
                self.sent.inc(len(data))
                if last:
                    return

    async def process(self, item: ArchiveItem) -> str:
        """One attempt at ``item``; returns its status afterwards."""
        if item.status == "queued" or not item.ciphertext or not Path(item.ciphertext).is_file():
            encrypted = await asyncio.to_thread(self._encrypt, item)
            if encrypted is None:
                return await asyncio.to_thread(self._status, item.event_id)
            item = encrypted
        timeout = self.settings.rpc_timeout_s
        try:
            status = await self.stub.Status(archive_pb2.ArchiveStatusRequest(upload_id=item.upload_id), timeout=30)
            offset = min(status.received, item.size)
            log.debug("archive_upload", event_id=item.event_id, size=item.size, resume_from=offset)
            receipt: Receipt = await self.stub.Upload(self._chunks(item, offset), timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            await asyncio.to_thread(self._retry_later, item, f"relay unreachable or upload interrupted ({code})")
            return "uploading"
        if receipt.result == Receipt.STORED:
            expected = cid_for_sha256(item.sha256)
            if receipt.cid != expected:
                await asyncio.to_thread(self._retry_later, item,
                                        f"relay reported CID {receipt.cid}, but the copy sent is {expected}")
                return "uploading"
            await asyncio.to_thread(self._finish, item, "stored", cid=receipt.cid, reason="")
            return "stored"
        if receipt.result == Receipt.OVER_QUOTA:
            await asyncio.to_thread(self._finish, item, "over_quota", reason=receipt.reason or "archive quota exceeded")
            return "over_quota"
        await asyncio.to_thread(self._retry_later, item, receipt.reason or "relay could not store the clip")
        return "uploading"

    def _status(self, event_id: str) -> str:
        with self.sessions() as session:
            item = session.get(ArchiveItem, event_id)
            return item.status if item else "unknown"

    async def run_once(self) -> int:
        """Queue what the policy selects, then work through every item that is due; returns items tried."""
        await asyncio.to_thread(self.scan)
        tried = 0
        while (item := await asyncio.to_thread(self._due)) is not None:
            await self.process(item)
            tried += 1
        return tried

    async def run(self, progress: Callable[[], None] = lambda: None) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # a bad item must not stop the archive; it is retried next round
                log.error("archive_round_failed", error=str(exc))
            progress()
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.scan_interval_s)
