"""The packets since the camera's last keyframe, so a viewer joining a stream already read starts at once.

A browser cannot decode before a keyframe; without this, a viewer who joins a shared read waits for the
camera's next one (up to its keyframe interval, often 2-4 s). With it, the viewer's track starts with
the current group of pictures (the keyframe and every packet since), which the browser decodes in a
burst, then follows the live packets. Bounded by bytes: a GOP larger than the bound (a main stream with
a long keyframe interval) is not kept, and its viewers wait for the next keyframe as before.
"""

from __future__ import annotations

import av

#: About 4 s of an 8 Mbit/s main stream; a sub-stream's 2 s GOP is ~0.1-0.5 MB.
DEFAULT_GOP_CACHE_BYTES = 4 * 1024 * 1024


class GopCache:
    """``max_bytes`` 0 disables it (viewers wait for the next keyframe)."""

    def __init__(self, max_bytes: int = DEFAULT_GOP_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._packets: list[av.Packet] = []
        self._bytes = 0

    @property
    def packets(self) -> list[av.Packet]:
        """The current GOP, keyframe first; empty when there is none (no keyframe yet, or too large)."""
        return list(self._packets)

    def add(self, packet: av.Packet) -> None:
        if packet.is_keyframe:
            self._packets, self._bytes = [], 0
        elif not self._packets:
            return  # no keyframe to decode it from
        if self._bytes + packet.size > self.max_bytes:
            self.clear()  # a GOP cut short would leave the browser a gap it cannot decode across
            return
        self._packets.append(packet)
        self._bytes += packet.size

    def clear(self) -> None:
        """The camera reconnected (or the GOP outgrew the bound): what is kept no longer leads to live."""
        self._packets, self._bytes = [], 0
