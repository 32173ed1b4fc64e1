"""Relay side of camera access: ask a device's EdgeCameras server (over the tunnel, on the channel its
EdgeMedia calls use) for a camera's latest picture, an ONVIF search of its LAN, a stream probe, or a live
view (the SDP offer in, the answer out).

Answers are handed straight to the browser that asked (:mod:`agents.relay.camera_http`); nothing is
kept. The sealed credentials of a probe pass through as the browser sealed them: the relay cannot open them.
"""

from __future__ import annotations

from agents.relay.media import EdgeMediaClient
from guardian.contracts.edge.v1 import cameras_pb2, cameras_pb2_grpc


class EdgeCamerasClient:
    def __init__(self, channels: EdgeMediaClient) -> None:
        self.channels = channels

    def _stub(self, address: str) -> cameras_pb2_grpc.EdgeCamerasStub:
        return cameras_pb2_grpc.EdgeCamerasStub(self.channels.channel(address))

    async def picture(self, address: str, camera: str, timeout: float) -> cameras_pb2.CameraPicture:
        return await self._stub(address).Picture(cameras_pb2.PictureRequest(camera=camera), timeout=timeout)

    async def discover(self, address: str, timeout: float, device_address: str = "",
                       sealed_credentials: bytes = b"") -> cameras_pb2.DiscoverResult:
        """A search of the edge's LAN; with ``device_address``, that one device asked again (with the login)."""
        request = cameras_pb2.DiscoverRequest(address=device_address, sealed_credentials=sealed_credentials)
        return await self._stub(address).Discover(request, timeout=timeout)

    async def probe(self, address: str, url: str, sealed_credentials: bytes, timeout: float) -> cameras_pb2.ProbeResult:
        request = cameras_pb2.ProbeRequest(url=url, sealed_credentials=sealed_credentials)
        return await self._stub(address).Probe(request, timeout=timeout)

    async def start_live(self, address: str, offer: cameras_pb2.LiveOffer, timeout: float) -> cameras_pb2.LiveAnswer:
        return await self._stub(address).StartLive(offer, timeout=timeout)

    async def renew_live(self, address: str, renewal: cameras_pb2.LiveRenew, timeout: float) -> cameras_pb2.LiveRenewed:
        return await self._stub(address).RenewLive(renewal, timeout=timeout)

    async def stop_live(self, address: str, session_id: str, camera: str, reason: str,
                        timeout: float) -> cameras_pb2.LiveStopped:
        """``reason``: ``viewer`` | ``revoked`` | ``expired`` (``LiveStop.reason``, for the edge's log)."""
        request = cameras_pb2.LiveStop(session_id=session_id, camera=camera, reason=reason)
        return await self._stub(address).StopLive(request, timeout=timeout)
