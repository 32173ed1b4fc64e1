"""The WS-Discovery probe: which ONVIF NetworkVideoTransmitters answer on the LAN.

One multicast Probe to 239.255.255.250:3702 (and ff02::c) from every non-loopback interface, through the
``WSDiscovery`` library; devices answer with ProbeMatches (unicast) carrying their device service URLs
(XAddrs) and scopes. The library waits the whole timeout (a device may answer any time within it) and
keeps the matches; it runs in threads, so callers in an event loop call :func:`search` via a thread.
"""

from __future__ import annotations

import dataclasses

from wsdiscovery import QName
from wsdiscovery.discovery import ThreadedWSDiscovery

# ONVIF core spec, 7.3.1: the type every ONVIF camera (network video transmitter) announces.
NETWORK_VIDEO_TRANSMITTER = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")


@dataclasses.dataclass(frozen=True)
class Announcement:
    """A device that answered: its endpoint reference, the URLs of its device service, its scopes."""

    endpoint: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]


def search(timeout_s: float) -> list[Announcement]:
    """Probe for ONVIF cameras and return those that answered within ``timeout_s``, in address order."""
    discovery = ThreadedWSDiscovery()
    discovery.start()
    try:
        services = discovery.searchServices(types=[NETWORK_VIDEO_TRANSMITTER], timeout=timeout_s)
    finally:
        discovery.stop()
    found = [
        Announcement(
            endpoint=str(service.getEPR()),
            xaddrs=tuple(str(x) for x in service.getXAddrs()),
            scopes=tuple(str(scope.getValue()) for scope in service.getScopes()),
        )
        for service in services
    ]
    return sorted((a for a in found if a.xaddrs), key=lambda a: a.xaddrs)
