"""Relay side of clip fetch: ask a device's EdgeMedia server (over the tunnel) for a byte range.

The relay does not store what it receives; callers stream the chunks on to an authorised viewer
(:mod:`agents.relay.media_http`). HTTP/2 flow control bounds what is buffered in between: the edge
sends only as fast as the viewer reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from guardian.contracts.edge.v1 import media_pb2, media_pb2_grpc

# A device that was offline must be reachable again within a couple of seconds of coming back
# (gRPC's default reconnect backoff grows to two minutes, and a channel in backoff fails calls at once).
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]


class EdgeMediaClient:
    """One channel per device address, reused across requests.

    ``credentials`` (tls mode): the relay's client certificate and the device CA; the edge's server
    certificate names its loopback address, which is what the channel checks.
    """

    def __init__(self, port: int, credentials: grpc.ChannelCredentials | None = None) -> None:
        self.port = port
        self.credentials = credentials
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, address: str) -> grpc.aio.Channel:
        """The device's channel (EdgeMedia and EdgeCameras are served on the same port)."""
        channel = self._channels.get(address)
        if channel is None:
            target = f"{address}:{self.port}"
            channel = (
                grpc.aio.secure_channel(target, self.credentials, options=CHANNEL_OPTIONS)
                if self.credentials
                else grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
            )
            self._channels[address] = channel
        return channel

    def call(
        self,
        address: str,
        event_id: str,
        kind: int = media_pb2.MediaRequest.CLIP,
        offset: int = 0,
        length: int = 0,
        timeout: float | None = None,
    ) -> grpc.aio.UnaryStreamCall[media_pb2.MediaRequest, media_pb2.MediaChunk]:
        """Start a Fetch; the caller reads it (``await call.read()`` / ``async for``) and cancels it."""
        stub = media_pb2_grpc.EdgeMediaStub(self.channel(address))
        request = media_pb2.MediaRequest(event_id=event_id, kind=kind, offset=offset, length=length)  # type: ignore[arg-type]
        return stub.Fetch(request, timeout=timeout)

    async def fetch(
        self,
        address: str,
        event_id: str,
        kind: int = media_pb2.MediaRequest.CLIP,
        offset: int = 0,
        length: int = 0,
        timeout: float = 30.0,
    ) -> AsyncIterator[media_pb2.MediaChunk]:
        call = self.call(address, event_id, kind, offset, length, timeout)
        try:
            async for chunk in call:
                yield chunk
        finally:
            call.cancel()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
