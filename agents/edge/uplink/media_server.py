"""EdgeMedia: the edge serves clip and snapshot bytes to its relay, on request, with byte ranges.

Files are found by event id through :class:`MediaLookup`; the agent uses :class:`EventsLookup`, which
reads the events table (:mod:`agents.edge.events.store`: ``snapshot_ref``, ``thumbnail_ref`` and
``clip_ref``, paths relative to ``storage.data_dir`` written by the detector's event manager). An event
whose clip is not assembled yet, or whose files retention deleted, is NOT_FOUND.

Only the relay may ask: in wireguard mode the server binds the tunnel address and accepts calls only
from the relay's tunnel address; in tls mode (demo) it requires a client certificate from the relay's
device CA whose common name is the relay's (``allowed_name``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar, Protocol

import grpc
from sqlalchemy.orm import sessionmaker

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


class EventsLookup:
    """Media paths from the events table; only files under ``data_dir`` are ever served."""

    def __init__(self, sessions: sessionmaker, data_dir: Path) -> None:
        self.sessions = sessions
        self.data_dir = data_dir.resolve()

    def resolve(self, event_id: str, kind: int) -> Path | None:
        from agents.edge.db.tables import EventRow

        if not _EVENT_ID.match(event_id):
            return None
        with self.sessions() as session:
            row = session.get(EventRow, event_id)
            if row is None:
                return None
            ref = {
                media_pb2.MediaRequest.CLIP: row.clip_ref,
                media_pb2.MediaRequest.SNAPSHOT: row.snapshot_ref,
                media_pb2.MediaRequest.THUMBNAIL: row.thumbnail_ref,
            }.get(kind)  # type: ignore[call-overload]
        if not ref:
            return None
        path = (self.data_dir / ref).resolve()
        if not path.is_relative_to(self.data_dir) or not path.is_file():
            return None
        return path


class DirectoryLookup:
    """``<root>/<event_id>/{clip.mp4,snapshot.jpg,thumbnail.jpg}``: for tests of the byte-range logic."""

    NAMES: ClassVar[dict[int, str]] = {
        media_pb2.MediaRequest.CLIP: "clip.mp4",
        media_pb2.MediaRequest.SNAPSHOT: "snapshot.jpg",
        media_pb2.MediaRequest.THUMBNAIL: "thumbnail.jpg",
    }

    def __init__(self, root: Path) -> None:
        self.root = root

    def resolve(self, event_id: str, kind: int) -> Path | None:
        name = self.NAMES.get(kind)
        if name is None or not _EVENT_ID.match(event_id):
            return None
        path = self.root / event_id / name
        return path if path.is_file() else None


async def refuse_unless_relay(context: grpc.aio.ServicerContext, allowed_peer: str | None, allowed_name: str | None) -> None:
    """Abort the call unless it comes from the relay: its tunnel address (wireguard mode) or a client
    certificate with its common name (tls mode). Shared by EdgeMedia and EdgeCameras."""
    if allowed_peer is not None and peer_address(context) != allowed_peer:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "only the relay may call the edge")
    if allowed_name is not None:
        names = context.auth_context().get("x509_common_name") or []
        if [n.decode() for n in names] != [allowed_name]:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "only the relay may call the edge")


class EdgeMediaService(media_pb2_grpc.EdgeMediaServicer):
    def __init__(self, lookup: MediaLookup, allowed_peer: str | None = None, allowed_name: str | None = None) -> None:
        self.lookup = lookup
        self.allowed_peer = allowed_peer
        self.allowed_name = allowed_name

    async def Fetch(
        self, request: media_pb2.MediaRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[media_pb2.MediaChunk]:
        await refuse_unless_relay(context, self.allowed_peer, self.allowed_name)
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
