"""The edge's live view: camera readers shared by viewer sessions, opened from a viewer's SDP offer.

One :class:`~agents.edge.live.reader.CameraReader` per camera stream (sub or main) however many watch
it; it runs while at least one session uses it. Signalling (how the offer reaches the edge and the answer
goes back) is the caller's: this class takes an offer and returns an answer (the uplink serves it to the
relay: :mod:`agents.edge.uplink.cameras_server`).

The cameras are a fixed mapping or a lookup called for each new session (the uplink's reads the
cameras table, so cameras added from the cloud are live at once); a reader nobody watches is made anew
when the camera's URL changed.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Collection, Mapping

from agents.edge.live.errors import UnknownCamera
from agents.edge.live.gop import DEFAULT_GOP_CACHE_BYTES
from agents.edge.live.reader import CameraReader
from agents.edge.live.session import CONNECT_TIMEOUT_S, ViewerSession
from agents.edge.live.types import CameraStreams, LiveStream, TurnServer
from agents.edge.video.ingest import StreamOptions

#: The streams of a camera by name, or None when there is no such camera (may block: run in a thread).
CameraLookup = Callable[[str], CameraStreams | None]


class LiveHub:
    def __init__(self, cameras: Mapping[str, CameraStreams] | CameraLookup,
                 options: StreamOptions | None = None, gop_cache_bytes: int = DEFAULT_GOP_CACHE_BYTES,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        """``gop_cache_bytes`` bounds each reader's GOP cache (:mod:`~agents.edge.live.gop`); 0 disables it.
        ``connect_timeout_s``: a session whose viewer has not connected by then ends (ViewerSession)."""
        self._lookup: CameraLookup = dict(cameras).get if isinstance(cameras, Mapping) else cameras
        self._connect_timeout_s = connect_timeout_s
        self._urls: dict[tuple[str, LiveStream], str] = {}
        self._options = options or StreamOptions()
        self._gop_cache_bytes = gop_cache_bytes
        self._readers: dict[tuple[str, LiveStream], CameraReader] = {}
        self.sessions: dict[str, ViewerSession] = {}

    def reader(self, camera: str, stream: LiveStream = LiveStream.SUB) -> CameraReader | None:
        return self._readers.get((camera, stream))

    @property
    def readers_running(self) -> int:
        return sum(1 for r in self._readers.values() if r.running)

    async def open_session(self, camera: str, offer_sdp: str, turn: TurnServer, expires_at: float,
                           stream: LiveStream = LiveStream.SUB) -> tuple[ViewerSession, str]:
        """A session sending ``camera``'s ``stream`` to the viewer who made ``offer_sdp``, and the SDP
        answer for that viewer. ``expires_at`` (unix time) ends it at the latest."""
        streams = await asyncio.to_thread(self._lookup, camera)
        if streams is None:
            raise UnknownCamera(camera)
        key, url = (camera, stream), streams.url(stream)
        reader = self._readers.get(key)
        if reader is not None and not reader.running and self._urls.get(key) != url:
            reader = None  # the camera's URL (or credentials) changed since it was last watched
        if reader is None:
            reader = self._readers[key] = CameraReader(camera, url, self._options, self._gop_cache_bytes)
            self._urls[key] = url
        track = reader.subscribe()

        async def ended(session: ViewerSession) -> None:
            self.sessions.pop(session.session_id, None)
            await reader.unsubscribe(track)

        session = ViewerSession(secrets.token_hex(8), camera, track, turn, expires_at, ended, self._connect_timeout_s)
        self.sessions[session.session_id] = session
        try:
            profile = await reader.profile_level_id()
        except BaseException:
            await session.close("camera unavailable")
            raise
        return session, await session.answer(offer_sdp, profile)

    def renew_session(self, session_id: str, camera: str, expires_at: float) -> bool:
        """Extend a session of ``camera`` to ``expires_at`` (the viewer's renewed token); False when there
        is no such session (it ended: the viewer starts a new one)."""
        session = self.sessions.get(session_id)
        return session is not None and session.camera == camera and session.extend(expires_at)

    async def stop_session(self, session_id: str, reason: str = "stopped") -> None:
        session = self.sessions.get(session_id)
        if session is not None:
            await session.close(reason)

    async def keep_cameras(self, cameras: Collection[str], reason: str) -> None:
        """End the sessions of every camera not in ``cameras`` (disabled or removed: nobody watches it any more)."""
        for session in [s for s in self.sessions.values() if s.camera not in cameras]:
            await session.close(reason)

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            await session.close("edge stopping")
        for reader in self._readers.values():
            await reader.close()
