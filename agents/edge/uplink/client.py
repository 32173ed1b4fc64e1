"""The uplink sender: the durable outbox → one bidirectional gRPC stream → acks → rows deleted.

- **Order**: events before telemetry; oldest first within a kind (a cursor per kind; events queued
  while telemetry is being sent overtake it at the next read).
- **Window**: at most ``max_in_flight`` messages unacknowledged; acks arrive in any order.
- **Acks**: a row is deleted only after the relay answered STORED or DUPLICATE (or REJECTED: a message
  the relay can never accept would otherwise block forever; it is logged and counted). Deletes are
  batched: every few milliseconds, what was acked since is deleted in one transaction (one DELETE per
  generation). A row whose payload was replaced while in flight (new generation) survives the ack and
  is sent again.
- **Reads**: a page of rows per query, read when a page fits in the window (not a query per freed slot).
- **Reconnects**: any stream error ends the session; everything unacknowledged is sent again on the
  next one (the relay's idempotent event ids make that harmless). Delay: exponential backoff with full
  jitter, reset after a session that got acks.
- **Heartbeats** every ``heartbeat_interval_s`` on the same stream (not stored); their ack time is the
  RTT reported in telemetry.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from agents.edge import outbox
from agents.edge.outbox import OutboxKind, PendingItem
from agents.edge.relay_channel import relay_channel
from agents.edge.uplink.config import UplinkSettings
from guardian.contracts.edge.v1 import uplink_pb2, uplink_pb2_grpc
from guardian.runtime.backoff import Backoff
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.edge.uplink")

HEARTBEAT_ID_BASE = 1 << 62  # heartbeat message ids live above every outbox row id
AGENT_VERSION = "0.1.0"
_SENT_KINDS = (OutboxKind.EVENT, OutboxKind.TELEMETRY)

@dataclass
class _InFlight:
    kind: OutboxKind
    generation: int
    sent_at: float


@dataclass
class _Session:
    in_flight: dict[int, _InFlight] = field(default_factory=dict)
    acked: list[tuple[int, int, OutboxKind]] = field(default_factory=list)  # waiting for the DELETE
    acked_ids: set[int] = field(default_factory=set)
    cursors: dict[OutboxKind, int] = field(default_factory=lambda: dict.fromkeys(_SENT_KINDS, 0))
    space: asyncio.Event = field(default_factory=asyncio.Event)
    got_acks: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)  # cursors: read and rewound in threads


class _StreamBroken(Exception):
    pass


class UplinkClient:
    def __init__(
        self,
        sessions: sessionmaker,
        target: str,
        settings: UplinkSettings,
        metrics: AgentMetrics,
        credentials: grpc.ChannelCredentials | None = None,
        on_rtt: Callable[[float], None] = lambda _ms: None,
    ) -> None:
        self.sessions = sessions
        self.target = target
        self.settings = settings
        self.credentials = credentials
        self.on_rtt = on_rtt
        self.wake = asyncio.Event()
        self.connected = False
        self.backoff = Backoff(settings.backoff_base_s, settings.backoff_max_s)
        self.sent = metrics.counter("uplink", "sent_total", "Messages sent (including resends).", ("kind",))
        self.acked = metrics.counter("uplink", "acked_total", "Acknowledgements by result.", ("result",))
        self.reconnects = metrics.counter("uplink", "reconnects_total", "Uplink stream (re)connections.")
        self.connected_gauge = metrics.gauge("uplink", "connected", "1 while the uplink stream is open.")
        self.ack_latency = metrics.histogram(
            "uplink", "ack_latency_seconds", "Send to ack.", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
        )
        for kind in ("event", "telemetry", "heartbeat"):
            self.sent.labels(kind)
        for result in ("stored", "duplicate", "rejected"):
            self.acked.labels(result)

    # --- the outer loop ----------------------------------------------------------------------
    async def run(self, progress: Callable[[], None] = lambda: None) -> None:
        while True:
            state = _Session()
            try:
                await self._session(state, progress)
            except (grpc.aio.AioRpcError, _StreamBroken) as exc:
                code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else "ACK_TIMEOUT"
                log.warning("uplink_stream_ended", code=code, error=str(exc.details() if isinstance(exc, grpc.aio.AioRpcError) else exc))
            except OperationalError as exc:
                # The database was busy for too long: start a new session (unacked rows are resent).
                log.error("uplink_outbox_error", error=str(exc.orig))
            finally:
                self.connected = False
                self.connected_gauge.set(0)
                if state.acked:
                    with contextlib.suppress(Exception):
                        await self._flush(state)
            if state.got_acks:
                self.backoff.reset()
            delay = self.backoff.next_delay()
            progress()
            await asyncio.sleep(delay)

    async def _session(self, state: _Session, progress: Callable[[], None]) -> None:
        channel = relay_channel(self.target, self.credentials)
        try:
            stub = uplink_pb2_grpc.UplinkStub(channel)
            call = stub.Stream(self._messages(state))
            self.reconnects.inc()
            tasks = [
                asyncio.create_task(self._receive(call, state, progress)),
                asyncio.create_task(self._flush_loop(state)),
                asyncio.create_task(self._ack_timeout(state)),
            ]
            try:
                done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # re-raise the error that ended the session
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                call.cancel()
        finally:
            await channel.close(grace=None)

    # --- sending -----------------------------------------------------------------------------
    def _read(self, state: _Session, limit: int) -> list[PendingItem]:
        out: list[PendingItem] = []
        with state.lock, self.sessions() as session:
            exclude = state.in_flight.keys() | state.acked_ids
            for kind in _SENT_KINDS:
                while len(out) < limit:
                    rows = outbox.fetch_after(session, kind, state.cursors[kind], limit - len(out))
                    if not rows:
                        break
                    state.cursors[kind] = rows[-1].id
                    out.extend(r for r in rows if r.id not in exclude)
                if len(out) >= limit:
                    break
        return out

    async def _messages(self, state: _Session) -> AsyncIterator[uplink_pb2.UplinkMessage]:
        next_heartbeat = 0.0
        heartbeat_seq = 0
        while True:
            now = time.monotonic()
            if now >= next_heartbeat:
                heartbeat_seq += 1
                message_id = HEARTBEAT_ID_BASE + heartbeat_seq
                state.in_flight[message_id] = _InFlight(OutboxKind.HEARTBEAT, 0, now)
                beat = uplink_pb2.Heartbeat(at=_now_ts(), agent_version=AGENT_VERSION)
                self.sent.labels("heartbeat").inc()
                yield uplink_pb2.UplinkMessage(message_id=message_id, heartbeat=beat)
                next_heartbeat = now + self.settings.heartbeat_interval_s
            room = self.settings.max_in_flight - len(state.in_flight)
            # Read in pages: with a full window each ack frees one slot, and a query per slot would
            # cost more than the send. Wait until a page fits (or nothing is in flight).
            if room <= 0 or (room < min(self.settings.batch_size, self.settings.max_in_flight // 2) and state.in_flight):
                state.space.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.space.wait(), timeout=self.settings.heartbeat_interval_s)
                continue
            rows = await asyncio.to_thread(self._read, state, min(room, self.settings.batch_size))
            if not rows:
                self.wake.clear()
                timeout = min(self.settings.poll_interval_s, max(0.0, next_heartbeat - time.monotonic()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=timeout)
                continue
            sent_at = time.monotonic()
            for row in rows:
                state.in_flight[row.id] = _InFlight(row.kind, row.generation, sent_at)
                message = uplink_pb2.UplinkMessage(message_id=row.id)
                if row.kind == OutboxKind.EVENT:
                    message.event.MergeFromString(row.payload)
                    self.sent.labels("event").inc()
                else:
                    message.telemetry.MergeFromString(row.payload)
                    self.sent.labels("telemetry").inc()
                yield message

    # --- receiving ---------------------------------------------------------------------------
    async def _receive(self, call: AsyncIterator[uplink_pb2.Ack], state: _Session, progress: Callable[[], None]) -> None:
        async for ack in call:
            if not self.connected:
                self.connected = True
                self.connected_gauge.set(1)
                log.info("uplink_connected", target=self.target)
            entry = state.in_flight.pop(ack.message_id, None)
            state.space.set()
            if entry is None:
                continue
            state.got_acks = True
            latency = time.monotonic() - entry.sent_at
            self.ack_latency.observe(latency)
            result = uplink_pb2.Ack.Status.Name(ack.status).lower()
            self.acked.labels(result if result in ("stored", "duplicate", "rejected") else "rejected").inc()
            if entry.kind == OutboxKind.HEARTBEAT:
                self.on_rtt(latency * 1000)
                progress()
                continue
            if ack.status == uplink_pb2.Ack.REJECTED:
                log.error("uplink_message_rejected", message_id=ack.message_id, reason=ack.reason)
            elif ack.status not in (uplink_pb2.Ack.STORED, uplink_pb2.Ack.DUPLICATE):
                continue  # unknown status: keep the row, it will be sent again
            state.acked.append((ack.message_id, entry.generation, entry.kind))
            state.acked_ids.add(ack.message_id)
            progress()
        raise _StreamBroken("relay closed the stream")

    def _delete(self, state: _Session, batch: list[tuple[int, int, OutboxKind]]) -> None:
        pairs = [(row_id, generation) for row_id, generation, _kind in batch]
        for attempt in range(20):
            try:
                # One write transaction (BEGIN IMMEDIATE: waits for the lock instead of failing).
                with self.sessions() as session, session.begin():
                    deleted = outbox.acknowledge(session, pairs)
                    # Fewer deleted than acked: some were replaced while in flight (or trimmed).
                    kept = set(outbox.still_queued(session, [p[0] for p in pairs])) if deleted < len(pairs) else set()
                break
            except OperationalError as exc:
                # SQLITE_BUSY for longer than busy_timeout while another process writes: wait and retry.
                if attempt == 19:
                    raise
                log.info("outbox_busy_retry", error=str(exc.orig))
                time.sleep(0.05 * (attempt + 1))
        with state.lock:
            state.acked_ids.difference_update(row_id for row_id, _g in pairs)
            for row_id, _generation, kind in batch:
                if row_id in kept:
                    # Replaced while in flight: send the new version (move the cursor back to it).
                    state.cursors[kind] = min(state.cursors[kind], row_id - 1)

    async def _flush(self, state: _Session) -> None:
        batch, state.acked = state.acked, []
        await asyncio.to_thread(self._delete, state, batch)

    async def _flush_loop(self, state: _Session) -> None:
        while True:
            await asyncio.sleep(0.01)
            if state.acked:
                await self._flush(state)

    async def _ack_timeout(self, state: _Session) -> None:
        while True:
            await asyncio.sleep(1.0)
            if state.in_flight:
                oldest = min(entry.sent_at for entry in state.in_flight.values())
                if time.monotonic() - oldest > self.settings.ack_timeout_s:
                    raise _StreamBroken(f"no ack for {self.settings.ack_timeout_s:.0f} s")


def _now_ts() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts
