"""One viewer: an aiortc peer connection that answers the browser's offer and sends the camera track.

ICE goes through the relay's TURN server only (``iceTransportPolicy`` relay; the browser is asked for
the same), with a credential that expires with the session. The media is DTLS-SRTP between this peer
and the browser: the TURN server forwards packets it cannot read. The session ends when the viewer
closes (DTLS close or ICE failure), when it has not connected within ``connect_timeout_s`` of the answer (a
viewer that left before its browser had the answer: nobody would stop it, and the camera stays open for it),
at its deadline, or when :meth:`close` is called.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aioice.stun
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from agents.edge.live.errors import NegotiationFailed
from agents.edge.live.h264 import answer_profile, codec_for_profile
from agents.edge.live.track import CameraTrack
from agents.edge.live.types import TurnServer
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.live")

# aioice retransmits a STUN request after 500 ms, doubling. The edge's first ICE checks leave as soon as it
# answers, before the browser has the answer and opens its TURN server to the edge's address (a TURN
# permission), so they are dropped; aioice does not send a triggered check when the browser's check then
# arrives (RFC 8445 7.3.1.4 asks for one), and the connection waited a whole retransmission: ~0.5 s of every
# first frame (bench/live_view.py, step "connect"). A 100 ms first retransmission cuts that; two more tries
# keep about the same time before a request is given up (51 s, was 63 s). Only the live view uses aioice here.
aioice.stun.RETRY_RTO = 0.1
aioice.stun.RETRY_MAX = 8

# A browser that has the answer connects through TURN in about a second (bench/live_view.py); one that left
# before it got the answer never does, and aiortc keeps such a peer "connecting" until the session's deadline.
CONNECT_TIMEOUT_S = 30.0


class ViewerSession:
    """``session_id`` names it (logs, stop requests); ``expires_at`` is a unix time."""

    def __init__(self, session_id: str, camera: str, track: CameraTrack, turn: TurnServer, expires_at: float,
                 on_end: Callable[[ViewerSession], Awaitable[None]], connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.session_id = session_id
        self.connect_timeout_s = connect_timeout_s
        self.camera = camera
        self.track = track
        self.expires_at = expires_at
        self.ended = asyncio.Event()
        self.end_reason: str | None = None
        self._on_end = on_end
        self._log = log.bind(camera=camera, session=session_id)
        self._pc = RTCPeerConnection(RTCConfiguration(
            iceServers=[RTCIceServer(urls=list(turn.urls), username=turn.username, credential=turn.credential)],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY,
        ))
        self._pc.on("connectionstatechange", self._state_changed)
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(max(0.0, expires_at - time.time()), self._expire)
        self._connect_deadline: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    async def answer(self, offer_sdp: str, profile_level_id: str) -> str:
        """The SDP answer to the viewer's offer, sending the camera's H.264 (``profile_level_id`` from its
        SPS) under the offered profile nearest to it (see :func:`~agents.edge.live.h264.answer_profile`)."""
        plid = answer_profile(profile_level_id, offer_sdp)
        if plid is None:
            await self.close("negotiation failed")
            raise NegotiationFailed(f"the viewer offers no H.264 profile that decodes the camera's ({profile_level_id})")
        try:
            # The transceiver and its one codec exist before the offer is read: aiortc settles the codecs
            # of the answer while it takes the offer, matching the offer's m=video section to it.
            codec = codec_for_profile(plid)
            transceiver = self._pc.addTransceiver(self.track, direction="sendonly")
            transceiver.setCodecPreferences([codec])
            await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            if transceiver.mid is None:
                raise NegotiationFailed("the offer has no video section")
            # aiortc gathers every candidate (the TURN allocation) before it returns the answer: no trickle.
            await self._pc.setLocalDescription(await self._pc.createAnswer())
        except NegotiationFailed:
            await self.close("negotiation failed")
            raise
        except Exception as exc:  # aiortc raises plain ValueError/OperationError for offers it cannot take
            await self.close("negotiation failed")
            raise NegotiationFailed(f"cannot answer the offer ({type(exc).__name__}: {exc})") from None
        self._log.info("live_session_answered", camera_profile=profile_level_id,
                       answered_profile=codec.parameters["profile-level-id"])
        if self._pc.connectionState != "connected":
            self._connect_deadline = asyncio.get_running_loop().call_later(self.connect_timeout_s, self._never_connected)
        return self._pc.localDescription.sdp

    def extend(self, expires_at: float) -> bool:
        """The viewer renewed its token: end at ``expires_at`` instead (never sooner than before). False if
        the session has ended already."""
        if self._closing is not None:
            return False
        if expires_at > self.expires_at:
            self.expires_at = expires_at
            self._deadline.cancel()
            self._deadline = asyncio.get_running_loop().call_later(max(0.0, expires_at - time.time()), self._expire)
            self._log.info("live_session_extended", expires_in_s=round(expires_at - time.time()))
        return True

    async def close(self, reason: str = "stopped") -> None:
        """End the session (idempotent); ``reason`` is kept in ``end_reason`` and logged."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close(reason))
        await asyncio.shield(self._closing)

    async def _close(self, reason: str) -> None:
        self.end_reason = reason
        self._deadline.cancel()
        if self._connect_deadline is not None:
            self._connect_deadline.cancel()
        await self._pc.close()
        await self._on_end(self)
        self.ended.set()
        self._log.info("live_session_ended", reason=reason)

    def _state_changed(self) -> None:
        state = self._pc.connectionState
        self._log.info("live_session_state", state=state)
        if state == "connected" and self._connect_deadline is not None:
            self._connect_deadline.cancel()
        if state in ("failed", "closed") and self._closing is None:
            self._closing = asyncio.ensure_future(self._close("viewer left" if state == "closed" else "connection failed"))

    def _expire(self) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close("expired"))

    def _never_connected(self) -> None:
        if self._closing is None and self._pc.connectionState != "connected":
            self._closing = asyncio.ensure_future(self._close("viewer never connected"))
