"""Camera discovery: a WS-Discovery search, then every found device's ONVIF services, all at once.

A device that fails (unreachable, wrong password, slow, not really ONVIF) is reported with its error
next to the others; nothing one device does ends the search.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from agents.edge.onvif import wsd
from agents.edge.onvif.device import describe
from agents.edge.onvif.types import Camera
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.onvif")


@dataclasses.dataclass(frozen=True)
class DiscoveryReport:
    cameras: tuple[Camera, ...]
    search_s: float  # the WS-Discovery wait (the probe timeout)
    describe_s: float  # asking the devices, in parallel


async def discover(probe_timeout_s: float = 3.0, device_timeout_s: float = 10.0, user: str | None = None,
                   password: str | None = None) -> DiscoveryReport:
    """Search the LAN for ONVIF cameras and describe each; ``user``/``password`` for all of them."""
    started = time.monotonic()
    announcements = await asyncio.to_thread(wsd.search, probe_timeout_s)
    searched = time.monotonic()
    cameras = await asyncio.gather(*(
        describe(a.xaddrs[0], a.scopes, user, password, device_timeout_s) for a in announcements
    ))
    done = time.monotonic()
    for camera in cameras:
        log.info("onvif device", address=camera.address, model=camera.model,
                 profiles=len(camera.profiles), error=camera.error.kind if camera.error else None)
    return DiscoveryReport(cameras=tuple(cameras), search_s=searched - started, describe_s=done - searched)
