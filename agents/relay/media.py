"""Relay side of clip fetch: ask a device's EdgeMedia server (over the tunnel) for a byte range.

The relay does not store what it receives; callers stream the chunks on to an authorised viewer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from guardian.contracts.edge.v1 import media_pb2, media_pb2_grpc


class EdgeMediaClient:
    """One channel per device address, reused across requests."""

    def __init__(self, port: int, credentials: grpc.ChannelCredentials | None = None) -> None:
        self.port = port
        self.credentials = credentials
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            target = f"{address}:{self.port}"
            channel = (
                grpc.aio.secure_channel(target, self.credentials)
                if self.credentials
                else grpc.aio.insecure_channel(target)
            )
            self._channels[address] = channel
        return channel

    async def fetch(
        self,
        address: str,
        event_id: str,
        kind: int = media_pb2.MediaRequest.CLIP,
        offset: int = 0,
        length: int = 0,
        timeout: float = 30.0,
    ) -> AsyncIterator[media_pb2.MediaChunk]:
        stub = media_pb2_grpc.EdgeMediaStub(self._channel(address))
        request = media_pb2.MediaRequest(event_id=event_id, kind=kind, offset=offset, length=length)  # type: ignore[arg-type]
        async for chunk in stub.Fetch(request, timeout=timeout):
            yield chunk

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
