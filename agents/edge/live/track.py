"""One viewer's video track: the camera's H.264 packets, as read, for aiortc's sender to packetise.

aiortc's ``RTCRtpSender`` sends an ``av.Packet`` returned by ``recv()`` without encoding it (H264Encoder.
pack), so nothing here decodes. A viewer starts at a keyframe (the browser cannot decode before one), and a
viewer that falls behind (its queue full: a slow link) drops what it holds and waits for the next keyframe
instead of growing memory or delaying the others.
"""

from __future__ import annotations

import asyncio

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

# About 6 s of a 25 fps stream: a link this far behind gets a fresh start at the next keyframe.
QUEUE_PACKETS = 150


class CameraTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(QUEUE_PACKETS)
        self._awaiting_keyframe = True
        self.packets_dropped = 0

    def offer(self, packet: av.Packet) -> None:
        """Called on the loop for every packet the camera's reader demuxes."""
        if self.readyState != "live":
            return
        if self._awaiting_keyframe:
            if not packet.is_keyframe:
                self.packets_dropped += 1
                return
            self._awaiting_keyframe = False
        if self._queue.full():
            self.packets_dropped += self._queue.qsize()
            while not self._queue.empty():
                self._queue.get_nowait()
            self._awaiting_keyframe = not packet.is_keyframe
            if self._awaiting_keyframe:
                return
        self._queue.put_nowait(packet)

    def start_with(self, packets: list[av.Packet]) -> None:
        """Begin with ``packets`` (the camera's current GOP, keyframe first) instead of waiting for the next
        keyframe. A GOP too long for the queue is left out: the viewer waits as before."""
        if not packets or not packets[0].is_keyframe or len(packets) >= QUEUE_PACKETS or not self._queue.empty():
            return
        for packet in packets:
            self._queue.put_nowait(packet)
        self._awaiting_keyframe = False

    def restart(self) -> None:
        """The camera was reconnected: start again at its next keyframe."""
        self._awaiting_keyframe = True

    def end(self) -> None:
        """No more packets (the reader stopped): the sender's ``recv`` ends."""
        if not self._queue.full():
            self._queue.put_nowait(None)
        self.stop()

    async def recv(self) -> av.Packet:  # aiortc sends Packets as well as Frames
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        return packet
