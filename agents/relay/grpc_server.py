"""The relay's gRPC server: the Uplink stream from edges, bound only where edges can reach it.

In ``wireguard`` mode the server binds the relay's *tunnel* address, so nothing outside the tunnel can
connect, and a device is identified by the source address of its connection: WireGuard only admits
packets from a peer's allowed IP when they are authenticated with that peer's key. In ``tls`` mode (the
local demo) the server requires a client certificate issued at enrolment and identifies the device by
the certificate's common name. The payload never decides who is talking.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable

import grpc

from agents.common.grpc_peer import peer_address
from agents.relay.cache import EventCache
from agents.relay.registry import Registry
from guardian.contracts.edge.v1 import uplink_pb2, uplink_pb2_grpc
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.relay.uplink")

Identify = Callable[[grpc.aio.ServicerContext], str | None]


def identify_by_tunnel_address(registry: Registry) -> Identify:
    def identify(context: grpc.aio.ServicerContext) -> str | None:
        address = peer_address(context)
        device = registry.device_for_address(address) if address else None
        return device.device_id if device else None

    return identify


def identify_by_certificate(registry: Registry) -> Identify:
    def identify(context: grpc.aio.ServicerContext) -> str | None:
        names = list(context.auth_context().get("x509_common_name") or [])
        if len(names) != 1:
            return None
        device_id = names[0].decode()
        with registry.sessions() as session:
            from agents.relay.db.tables import Device

            device = session.get(Device, device_id)
            return device_id if device is not None and device.revoked_at is None else None

    return identify


class UplinkService(uplink_pb2_grpc.UplinkServicer):
    def __init__(self, cache: EventCache, identify: Identify, metrics: AgentMetrics, max_batch: int = 512) -> None:
        self.cache = cache
        self.identify = identify
        self.max_batch = max_batch
        self.revoked: set[str] = set()
        self.active: dict[str, int] = {}
        self.messages = metrics.counter("uplink", "messages_total", "Uplink messages by kind and result.", ("kind", "result"))
        for kind in ("event", "telemetry", "heartbeat"):
            for result in ("stored", "duplicate", "rejected"):
                self.messages.labels(kind, result)
        self.streams = metrics.gauge("uplink", "streams_active", "Open uplink streams.")
        self.refused = metrics.counter("uplink", "streams_refused_total", "Streams from unknown sources.")
        self.batch_seconds = metrics.histogram("uplink", "store_batch_seconds", "Time to store one batch.")

    def disconnect(self, device_id: str) -> None:
        """End the device's open streams (after revocation)."""
        self.revoked.add(device_id)

    async def Stream(
        self, request_iterator: AsyncIterator[uplink_pb2.UplinkMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[uplink_pb2.Ack]:
        device_id = await asyncio.to_thread(self.identify, context)
        if device_id is None:
            self.refused.inc()
            log.warning("uplink_refused", peer=context.peer())
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "not an enrolled device")
            return
        self.revoked.discard(device_id)
        queue: asyncio.Queue[uplink_pb2.UplinkMessage | None] = asyncio.Queue(maxsize=self.max_batch * 4)

        async def read() -> None:
            try:
                async for message in request_iterator:
                    await queue.put(message)
            finally:
                await queue.put(None)

        reader = asyncio.create_task(read())
        self.streams.inc()
        self.active[device_id] = self.active.get(device_id, 0) + 1
        log.info("uplink_stream_opened", device=device_id)
        try:
            ended = False
            getter: asyncio.Task | None = None  # kept across timeouts: cancelling a get can drop an item
            while not ended:
                getter = getter or asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter}, timeout=1.0)
                if not done:
                    if device_id in self.revoked:
                        getter.cancel()
                        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "device revoked")
                    continue
                first, getter = getter.result(), None
                if first is None:
                    break
                batch = [first]
                while len(batch) < self.max_batch and not queue.empty():
                    item = queue.get_nowait()
                    if item is None:
                        ended = True
                        break
                    batch.append(item)
                # The whole batch in one transaction; acks only after its commit.
                with self.batch_seconds.time():
                    results = await asyncio.to_thread(self.cache.store, device_id, batch)
                counts = Counter((m.WhichOneof("body"), r.status) for m, r in zip(batch, results, strict=True))
                for (kind, status), count in counts.items():
                    if kind is not None:
                        self.messages.labels(kind, uplink_pb2.Ack.Status.Name(status).lower()).inc(count)
                for message, result in zip(batch, results, strict=True):
                    yield uplink_pb2.Ack(message_id=message.message_id, status=result.status, reason=result.reason)
        finally:
            reader.cancel()
            self.streams.dec()
            self.active[device_id] -= 1
            log.info("uplink_stream_closed", device=device_id)


def make_server(service: UplinkService) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.keepalive_time_ms", 20_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]
    )
    uplink_pb2_grpc.add_UplinkServicer_to_server(service, server)
    return server
