"""EdgeMedia: the edge serves clip and snapshot bytes to its relay, on request, with byte ranges.

Files are found by event id through :class:`MediaLookup`. The events table (detection) will provide
the real lookup; :class:`DirectoryLookup` serves ``<root>/<event_id>/{clip.mp4,snapshot.jpg,thumbnail.jpg}``
and is what runs until then. Only the relay may ask: in wireguard mode the server binds the tunnel
address and accepts calls only from the relay's tunnel address.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import grpc

from agents.common.grpc_peer import peer_address
from guardian.contracts.edge.v1 import media_pb2, media_pb2_grpc
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.media")

CHUNK = 256 * 1024
_CONTENT_TYPES = {
    media_pb2.MediaRequest.CLIP: "video/mp4",
    media_pb2.MediaRequest.SNAPSHOT: "image/jpeg",
    media_pb2.MediaRequest.THUMBNAIL: "image/jpeg",
}
_EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MediaLookup(Protocol):
    def resolve(self, event_id: str, kind: int) -> Path | None:
        """The file holding ``kind`` (MediaRequest.Kind) of ``event_id``, or None."""


class DirectoryLookup:
    NAMES = {
        media_pb2.MediaRequest.CLIP: "clip.mp4",
        media_pb2.MediaRequest.SNAPSHOT: "snapshot.jpg",
        media_pb2.MediaRequest.THUMBNAIL: "thumbnail.jpg",
    }

    def __init__(self, root: Path) -> None:
        self.root = root

    def resolve(self, event_id: str, kind: int) -> Path | None:
        name = self.NAMES.get(kind)  # type: ignore[call-overload]
        if name is None or not _EVENT_ID.match(event_id):
            return None
        path = self.root / event_id / name
        return path if path.is_file() else None


class EdgeMediaService(media_pb2_grpc.EdgeMediaServicer):
    def __init__(self, lookup: MediaLookup, allowed_peer: str | None = None) -> None:
        self.lookup = lookup
        self.allowed_peer = allowed_peer

    async def Fetch(  # noqa: N802
        self, request: media_pb2.MediaRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[media_pb2.MediaChunk]:
        if self.allowed_peer is not None:
            if peer_address(context) != self.allowed_peer:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "only the relay may fetch media")
        if request.kind not in _CONTENT_TYPES or not _EVENT_ID.match(request.event_id):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad event id or kind")
        path = await asyncio.to_thread(self.lookup.resolve, request.event_id, request.kind)
        if path is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such media for this event")
        assert path is not None
        total = path.stat().st_size
        if request.offset >= total:
            await context.abort(grpc.StatusCode.OUT_OF_RANGE, f"offset beyond size {total}")
        end = total if request.length == 0 else min(total, request.offset + request.length)
        first = True
        with path.open("rb") as handle:
            handle.seek(request.offset)
            position = request.offset
            while position < end:
                data = await asyncio.to_thread(handle.read, min(CHUNK, end - position))
                if not data:
                    break
                chunk = media_pb2.MediaChunk(offset=position, data=data)
                if first:
                    chunk.total_size = total
                    chunk.content_type = _CONTENT_TYPES[request.kind]
                    first = False
                position += len(data)
                yield chunk
