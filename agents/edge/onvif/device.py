"""One ONVIF device's Device and Media services, through ``onvif-zeep-async`` (zeep and the ONVIF WSDLs).

Asks what a person adding the camera needs: maker, model, firmware, and per media profile the encoder
(codec, size, frame rate), the RTSP stream URI and the snapshot URI. With credentials every call carries
a WS-Security UsernameToken with a password digest (never the password itself). Failures become a
:class:`~agents.edge.onvif.types.Failure`; a profile whose URIs cannot be had is still listed.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import zeep.exceptions
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError

from agents.edge.onvif.types import Camera, ErrorKind, Failure, MediaProfile
from guardian.runtime.logging import redact_text

RTSP_UNICAST = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
_AUTH_SUBCODES = ("NotAuthorized", "FailedAuthentication", "InvalidSecurity")


async def describe(address: str, scopes: tuple[str, ...], user: str | None, password: str | None,
                   timeout_s: float) -> Camera:
    """Ask the device at ``address`` (its device service URL) for its identity and media profiles."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _describe(address, scopes, user, password)
    except Exception as exc:  # every failure is this device's alone; the caller goes on with the others
        return Camera(address=address, scopes=scopes, error=classify(exc, timeout_s))


async def _describe(address: str, scopes: tuple[str, ...], user: str | None, password: str | None) -> Camera:
    url = urlsplit(address)
    if url.hostname is None:
        raise ValueError("the device announced no host in its address")
    # No credentials: an empty UsernameToken (the client library always sends one); a camera without
    # authentication ignores it, one with authentication refuses it like a wrong password.
    # no_cache: zeep's WSDL cache would be a file under $HOME; the WSDLs are local files anyway.
    camera = ONVIFCamera(url.hostname, url.port or 80, user or "", password if user else None, no_cache=True)
    try:
        await camera.update_xaddrs()
        device = await camera.create_devicemgmt_service()
        info = await device.GetDeviceInformation()
        media = await camera.create_media_service()
        profiles = [await _profile(media, p) for p in await media.GetProfiles() or []]
    finally:
        await camera.close()
    return Camera(address=address, scopes=scopes, manufacturer=info.Manufacturer, model=info.Model,
                  firmware=info.FirmwareVersion, serial=info.SerialNumber, profiles=tuple(profiles))


async def _profile(media: Any, profile: Any) -> MediaProfile:
    encoder = profile.VideoEncoderConfiguration
    resolution = encoder.Resolution if encoder is not None else None
    rate = encoder.RateControl if encoder is not None else None
    return MediaProfile(
        token=profile.token,
        name=profile.Name,
        encoding=str(encoder.Encoding) if encoder is not None else None,
        width=resolution.Width if resolution is not None else None,
        height=resolution.Height if resolution is not None else None,
        fps=float(rate.FrameRateLimit) if rate is not None and rate.FrameRateLimit is not None else None,
        stream_uri=await _uri(media.GetStreamUri({"StreamSetup": RTSP_UNICAST, "ProfileToken": profile.token})),
        snapshot_uri=await _uri(media.GetSnapshotUri({"ProfileToken": profile.token})),
    )


async def _uri(call: Any) -> str | None:
    """A MediaUri's URI, credentials redacted; None when the device has none (snapshots are optional)."""
    try:
        answer = await call
    except zeep.exceptions.Fault as fault:
        if _is_auth_fault(fault):
            raise
        return None
    return redact_text(answer.Uri) if answer is not None and answer.Uri else None


def _is_auth_fault(fault: zeep.exceptions.Fault) -> bool:
    codes = [str(code) for code in (fault.subcodes or [])] + [str(fault.code or ""), str(fault.message or "")]
    return any(marker in code for code in codes for marker in _AUTH_SUBCODES)


def classify(exc: BaseException, timeout_s: float) -> Failure:
    """A device's error as a :class:`Failure`; the reason names the kind of error, never the URL."""
    cause = exc.__cause__ if isinstance(exc, ONVIFError) and exc.__cause__ is not None else exc
    if isinstance(exc, TimeoutError | ONVIFTimeoutError) or isinstance(cause, TimeoutError):
        return Failure(ErrorKind.TIMEOUT, f"no answer from the ONVIF services within {timeout_s:g} s")
    if isinstance(exc, ONVIFAuthError) or (isinstance(cause, zeep.exceptions.Fault) and _is_auth_fault(cause)):
        return Failure(ErrorKind.AUTH_FAILED, "the camera refused the credentials")
    if isinstance(cause, zeep.exceptions.TransportError) and cause.status_code in (401, 403):
        return Failure(ErrorKind.AUTH_FAILED, f"the camera refused the credentials (HTTP {cause.status_code})")
    if isinstance(cause, aiohttp.ClientConnectionError | OSError):
        return Failure(ErrorKind.UNREACHABLE, f"cannot connect to the ONVIF services ({type(cause).__name__})")
    if isinstance(cause, zeep.exceptions.Fault):
        return Failure(ErrorKind.PROTOCOL, f"the camera answered with a SOAP fault: {redact_text(str(cause.message))}")
    return Failure(ErrorKind.PROTOCOL, f"unexpected answer ({type(cause).__name__})")
