"""The browser-facing media endpoint: clips, snapshots and thumbnails, streamed from the edge on demand.

    GET|HEAD /media/v1/events/{event_id}/clip.mp4?token=T        video/mp4, HTTP Range → 206
    GET|HEAD /media/v1/events/{event_id}/snapshot.jpg?token=T    image/jpeg
    GET|HEAD /media/v1/events/{event_id}/thumbnail.jpg?token=T   image/jpeg
    GET      /media/v1/events/{event_id}/track.json?token=T      the event's boxes (a ``snapshot`` token)
    &download=1 → Content-Disposition: attachment; &name=campus_2026-12-02_05-04-18_person.mp4 names the file
    (the viewer's local time is the browser's to know); without it the name is built the same way in UTC

``track.json`` comes from the relay's event cache, not the edge: ``{"event_id", "label", "start", "end",
"clip_duration_s", "best", "points": [{"at", "box": [x_min, y_min, x_max, y_max]}]}`` with boxes
normalised to 0..1 and ``best`` the point the snapshot shows. Boxes never reach the cloud: the browser fetches them here with the cloud's token, like the snapshot.

It is mounted on the relay's public HTTPS listener (the enrolment app): the cloud puts that URL in clip
tokens, browsers reach it the same way edges do, and one certificate and one port serve both. Camera
pictures, discovery and probes (device tokens, :mod:`agents.relay.camera_http`) are mounted with it
(:func:`create_media_app`).

**Authorisation** is the clip token alone, checked offline with the cloud's public keys
(:func:`guardian.contracts.auth.verify_clip_token`): the token's tenant must be this relay's, its event and
scope must match the path, and its device must be enrolled here and not revoked. The token travels in
the query because ``<video>``/``<img>`` cannot send headers (``Authorization: Bearer`` works too).

**Streaming**: the request becomes one EdgeMedia ``Fetch`` (a gRPC server stream over the tunnel) for
exactly the requested byte range; chunks go to the browser as they arrive and nothing is written to
disk. Headers are sent once the edge's first chunk arrived, since it carries the file's size.

**Answers**: 200 / 206 (``Content-Range``, ``Accept-Ranges: bytes``), 416 with ``Content-Range: bytes
*/size`` for an unsatisfiable or malformed range. Errors are JSON ``{"error": code, "detail": text}``,
except to an image request (``Sec-Fetch-Dest: image``, or an ``Accept`` that asks for images and not JSON)
for a snapshot or thumbnail: the same status with an empty body and the code in ``X-Media-Error``, since
Chromium's opaque response blocking (ORB) blocks a JSON answer to an ``<img>`` and logs an error:

====  =========================================================================================
401   ``token_missing``, ``token_invalid`` (format, signature, unknown key), ``token_expired``
403   ``wrong_tenant``, ``wrong_event``, ``wrong_scope``, ``wrong_relay``, ``unknown_device``,
      ``device_revoked``
404   ``not_found`` (no such media path), ``media_gone`` (the edge has no such file: not recorded,
      not assembled yet, or deleted by retention)
502   ``edge_error`` (the edge answered with something unexpected)
503   ``device_offline`` (the edge's media server cannot be reached)
504   ``device_timeout`` (the edge did not start answering in ``media.first_byte_timeout_s``)
====  =========================================================================================

Request bodies are never read here; on the public listener any body over 64 KiB is 413 ``too_large``
before it reaches this app (:class:`agents.relay.enrolment.BodyLimit`).

CORS (for both apps): the configured UI origins may read the answers and POST (credentials off; ``Range``,
``Authorization`` and ``Content-Type`` allowed; ``Content-Range``/``Content-Length``/``Accept-Ranges``/
``X-Picture-Taken-At`` exposed); every answer carries
``Cross-Origin-Resource-Policy: cross-origin`` and ``Cache-Control: private, no-store``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import grpc
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from agents.relay.cache import EventCache
from agents.relay.config import MediaSettings
from agents.relay.db.tables import CachedEvent
from agents.relay.media import EdgeMediaClient
from agents.relay.media_access import (
    COMMON_HEADERS,
    DeviceLookup,
    DeviceRoute,
    error_response,
    granted_device,
    request_token,
)
from guardian.contracts import auth
from guardian.contracts.edge.v1 import media_pb2
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.relay.media")

_EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DOWNLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9-]+")
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class MediaKind:
    scope: str
    kind: int
    content_type: str
    extension: str


KINDS = {
    "clip.mp4": MediaKind("clip", media_pb2.MediaRequest.CLIP, "video/mp4", "mp4"),
    "snapshot.jpg": MediaKind("snapshot", media_pb2.MediaRequest.SNAPSHOT, "image/jpeg", "jpg"),
    "thumbnail.jpg": MediaKind("thumbnail", media_pb2.MediaRequest.THUMBNAIL, "image/jpeg", "jpg"),
}
#: Not fetched from the edge: the boxes the relay's cache holds, for whoever may see the snapshot.
TRACK = MediaKind("snapshot", media_pb2.MediaRequest.SNAPSHOT, "application/json", "json")
_IMAGE_SCOPES = frozenset({"snapshot", "thumbnail"})


def wants_image(request: Request) -> bool:
    """Whether the request comes from an ``<img>`` (or asks for an image rather than JSON)."""
    if request.headers.get("sec-fetch-dest") == "image":
        return True
    accept = request.headers.get("accept", "")
    return "image/" in accept and "application/json" not in accept


def image_error(answer: Response) -> Response:
    """``answer`` (a JSON error) as an image request's error: same status, no body (see the module doc)."""
    code = ""
    if isinstance(answer, JSONResponse):
        code = str(json.loads(bytes(answer.body)).get("error", ""))
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-type", "content-length")}
    return Response(status_code=answer.status_code, headers={**headers, "X-Media-Error": code})


def download_name(request: Request, cached: CachedEvent | None, event_id: str, extension: str) -> str:
    """The file name a download is saved under: the viewer's ``name`` when it is a plain file name with the
    right extension, else ``camera_YYYY-MM-DD_HH-MM-SS_label.ext`` (UTC) from the cache, else the event id."""
    asked = request.query_params.get("name", "")
    if _DOWNLOAD_NAME.match(asked) and asked.endswith(f".{extension}") and ".." not in asked:
        return asked
    if cached is not None and cached.start is not None:
        start = cached.start if cached.start.tzinfo else cached.start.replace(tzinfo=UTC)
        parts = (cached.camera, start.astimezone(UTC).strftime("%Y-%m-%d_%H-%M-%S"), cached.label)
        stem = "_".join(_UNSAFE_IN_NAME.sub("-", part).strip("-") or "event" for part in parts)
        return f"{stem}.{extension}"
    return f"{event_id}.{extension}"


def track_document(cached: CachedEvent) -> dict[str, object]:
    """What ``track.json`` answers: times and normalised boxes, and ``best``, the index of the point
    with the highest score (the edge takes the snapshot at that frame); the scores themselves stay here."""
    points = json.loads(cached.track_json or "[]")
    scores = [float(p.get("score") or 0.0) for p in points]
    return {
        "best": scores.index(max(scores)) if scores else None,
        "event_id": cached.event_id,
        "label": cached.label,
        "start": _iso(cached.start),
        "end": _iso(cached.end),
        "clip_duration_s": cached.clip_duration_s,
        "points": [{"at": p.get("at"), "box": p.get("box")} for p in points],
    }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")


# --- ranges ------------------------------------------------------------------------------------------


class RangeInvalid(Exception):
    """A ``bytes=`` range that is malformed or can never be satisfied (answered with 416)."""


@dataclass(frozen=True)
class ByteRange:
    start: int | None  # None: a suffix range of ``suffix`` bytes
    end: int | None  # inclusive; None: to the end
    suffix: int = 0


def parse_range(header: str | None) -> ByteRange | None:
    """One ``bytes=`` range, or None to send the whole file (no header, another unit, several ranges).

    RFC 9110 lets a server ignore a Range it does not support: several ranges are answered with the
    whole file (players ask for one range at a time). Malformed byte ranges raise :class:`RangeInvalid`.
    """
    if header is None or not header.strip():
        return None
    unit = header.split("=", 1)[0].strip().lower()
    if unit != "bytes":
        return None
    if "," in header:
        return None
    match = _RANGE.match(header)
    if match is None:
        raise RangeInvalid(header)
    first, last = match.group(1), match.group(2)
    if first == "" and last == "":
        raise RangeInvalid(header)
    if first == "":
        suffix = int(last)
        if suffix == 0:
            raise RangeInvalid(header)
        return ByteRange(None, None, suffix)
    start = int(first)
    end = int(last) if last != "" else None
    if end is not None and end < start:
        raise RangeInvalid(header)
    return ByteRange(start, end)


# --- errors ------------------------------------------------------------------------------------------

_GRPC_ERRORS: dict[grpc.StatusCode, tuple[int, str, str]] = {
    grpc.StatusCode.NOT_FOUND: (404, "media_gone", ("the device has no such media for this event (not recorded, "
                                                    "not ready yet, or deleted by retention)")),
    grpc.StatusCode.INVALID_ARGUMENT: (404, "media_gone", "the device does not know this media"),
    grpc.StatusCode.UNAVAILABLE: (503, "device_offline", "the camera box is offline or cannot be reached"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "device_timeout", "the camera box did not answer in time"),
}


class _EdgeFailed(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


# --- the app -----------------------------------------------------------------------------------------


class MediaEndpoint:
    def __init__(
        self,
        *,
        tenant_id: str,
        token_keys: auth.PublicKeys,
        devices: DeviceLookup,
        client: EdgeMediaClient,
        settings: MediaSettings,
        metrics: AgentMetrics,
        events: EventCache | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.events = events
        self.token_keys = token_keys
        self.devices = devices
        self.client = client
        self.settings = settings
        self.requests = metrics.counter(
            "media", "requests_total", "Media requests by what was asked and the answer.", ("scope", "status")
        )
        self.first_byte = metrics.histogram(
            "media", "edge_first_byte_seconds", "Request to the edge's first chunk.",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.bytes_sent = metrics.counter("media", "bytes_total", "Media bytes streamed to viewers.", ("scope",))
        for scope in ("clip", "snapshot", "thumbnail"):
            self.bytes_sent.labels(scope)

    # --- checks ---------------------------------------------------------------------------------
    async def _authorise(self, request: Request, event_id: str, spec: MediaKind) -> DeviceRoute | Response:
        token = request_token(request)
        if not token:
            return error_response(401, "token_missing", "a clip token is required (?token=…)")
        try:
            grant = auth.verify_clip_token(
                token, self.token_keys, tenant_id=self.tenant_id, event_id=event_id, scope=spec.scope
            )
        except auth.TokenExpired:
            return error_response(401, "token_expired", "the clip token has expired; ask the cloud for a new one")
        except auth.TokenMismatch as exc:
            return error_response(403, exc.reason, str(exc))
        except auth.TokenError:
            return error_response(401, "token_invalid", "the clip token is not valid (format or signature)")
        return await granted_device(grant.relay_url, grant.device_id, "clip token", tenant_id=self.tenant_id,
                                    devices=self.devices, public_url=self.settings.public_url)

    # --- talking to the edge --------------------------------------------------------------------
    def _edge_error(self, exc: grpc.aio.AioRpcError, device: DeviceRoute) -> Response:
        status, code, detail = _GRPC_ERRORS.get(
            exc.code(), (502, "edge_error", "the camera box answered with an error")
        )
        log.info("media_edge_error", device=device.device_id, code=exc.code().name, status=status)
        return error_response(status, code, detail)

    async def _open(
        self, device: DeviceRoute, event_id: str, spec: MediaKind, offset: int, length: int
    ) -> tuple[grpc.aio.UnaryStreamCall[media_pb2.MediaRequest, media_pb2.MediaChunk], media_pb2.MediaChunk]:
        """Start a Fetch and wait for its first chunk; raises _EdgeFailed with the answer to give."""
        started = time.perf_counter()
        call = self.client.call(device.address, event_id, spec.kind, offset, length)
        try:
            chunk = await asyncio.wait_for(call.read(), self.settings.first_byte_timeout_s)
        except TimeoutError:
            call.cancel()
            log.info("media_edge_timeout", device=device.device_id)
            raise _EdgeFailed(error_response(504, "device_timeout", "the camera box did not answer in time")) from None
        except grpc.aio.AioRpcError as exc:
            call.cancel()
            if exc.code() == grpc.StatusCode.OUT_OF_RANGE:
                raise
            raise _EdgeFailed(self._edge_error(exc, device)) from None
        if chunk is grpc.aio.EOF:
            call.cancel()
            raise _EdgeFailed(error_response(502, "edge_error", "the camera box sent no data"))
        self.first_byte.observe(time.perf_counter() - started)
        return call, cast(media_pb2.MediaChunk, chunk)  # grpc's stubs type read() as object | response

    async def _size(self, device: DeviceRoute, event_id: str, spec: MediaKind) -> int:
        """The file's size, from a one-byte fetch (for suffix ranges and 416 answers)."""
        try:
            call, chunk = await self._open(device, event_id, spec, 0, 1)
        except grpc.aio.AioRpcError:  # OUT_OF_RANGE at offset 0: an empty file
            return 0
        call.cancel()
        return chunk.total_size

    # --- the handler ----------------------------------------------------------------------------
    async def serve(self, request: Request) -> Response:
        event_id = request.path_params["event_id"]
        name = request.path_params["name"]
        spec = TRACK if name == "track.json" and request.method == "GET" else KINDS.get(name)
        if spec is None or not _EVENT_ID.match(event_id):
            return error_response(404, "not_found", "no such media path")
        if spec is TRACK:
            response = await self._track(request, event_id)
            self.requests.labels("track", str(response.status_code)).inc()
            return response
        response = await self._handle(request, event_id, spec)
        self.requests.labels(spec.scope, str(response.status_code)).inc()
        if response.status_code >= 400 and spec.scope in _IMAGE_SCOPES and wants_image(request):
            return image_error(response)
        return response

    async def _cached(self, event_id: str, device: DeviceRoute) -> CachedEvent | None:
        """The cached event, if it is the token's device's (another device's id answers as unknown)."""
        if self.events is None:
            return None
        cached = await asyncio.to_thread(self.events.get, event_id)
        return cached if cached is not None and cached.device_id == device.device_id else None

    async def _track(self, request: Request, event_id: str) -> Response:
        authorised = await self._authorise(request, event_id, TRACK)
        if isinstance(authorised, Response):
            log.info("media_refused", event_id=event_id, scope="track", status=authorised.status_code)
            return authorised
        cached = await self._cached(event_id, authorised)
        if cached is None:
            return error_response(404, "media_gone", "this relay holds no track for the event (expired or unknown)")
        return JSONResponse(track_document(cached), headers=COMMON_HEADERS)

    async def _handle(self, request: Request, event_id: str, spec: MediaKind) -> Response:
        authorised = await self._authorise(request, event_id, spec)
        if isinstance(authorised, Response):
            log.info("media_refused", event_id=event_id, scope=spec.scope, status=authorised.status_code)
            return authorised
        device = authorised
        try:
            wanted = parse_range(request.headers.get("range"))
        except RangeInvalid:
            wanted = ByteRange(-1, -1)  # answered below with the size
        try:
            if wanted is not None and wanted.start == -1:
                size = await self._size(device, event_id, spec)
                return self._unsatisfiable(size)
            if wanted is not None and wanted.start is None:  # suffix: the last N bytes
                size = await self._size(device, event_id, spec)
                if size == 0:
                    return self._unsatisfiable(size)
                wanted = ByteRange(max(0, size - wanted.suffix), None)
            offset = wanted.start if wanted is not None and wanted.start is not None else 0
            length = 0
            if wanted is not None and wanted.end is not None:
                length = wanted.end - offset + 1
            try:
                call, first = await self._open(device, event_id, spec, offset, length)
            except grpc.aio.AioRpcError:  # OUT_OF_RANGE: the start is at or past the end
                return self._unsatisfiable(await self._size(device, event_id, spec))
        except _EdgeFailed as failed:
            return failed.response

        total = first.total_size
        end = total - 1 if wanted is None or wanted.end is None else min(wanted.end, total - 1)
        content_length = end - offset + 1
        download = request.query_params.get("download") == "1"
        filename = f"{event_id}.{spec.extension}"
        if download:
            filename = download_name(request, await self._cached(event_id, device), event_id, spec.extension)
        disposition = "attachment" if download else "inline"
        headers = {
            **COMMON_HEADERS,
            "Accept-Ranges": "bytes",
            "Content-Length": str(content_length),
            "Content-Disposition": f'{disposition}; filename="{filename}"',
        }
        status = 200
        if wanted is not None:
            status = 206
            headers["Content-Range"] = f"bytes {offset}-{end}/{total}"
        media_type = first.content_type or spec.content_type
        if request.method == "HEAD":
            call.cancel()
            return Response(status_code=status, headers=headers, media_type=media_type)
        log.info("media_streaming", device=device.device_id, event_id=event_id, scope=spec.scope,
                 offset=offset, length=content_length)
        return StreamingResponse(
            self._body(call, first, spec, device), status_code=status, headers=headers, media_type=media_type
        )

    def _unsatisfiable(self, size: int) -> Response:
        return error_response(416, "range_not_satisfiable", f"the requested range is not within 0-{max(size - 1, 0)}",
                      {"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"})

    async def _body(
        self,
        call: grpc.aio.UnaryStreamCall[media_pb2.MediaRequest, media_pb2.MediaChunk],
        first: media_pb2.MediaChunk,
        spec: MediaKind,
        device: DeviceRoute,
    ) -> AsyncIterator[bytes]:
        counter = self.bytes_sent.labels(spec.scope)
        try:
            counter.inc(len(first.data))
            yield first.data
            while True:
                chunk = await asyncio.wait_for(call.read(), self.settings.idle_timeout_s)
                if chunk is grpc.aio.EOF:
                    return
                data = cast(media_pb2.MediaChunk, chunk).data
                counter.inc(len(data))
                yield data
        except (grpc.aio.AioRpcError, TimeoutError) as exc:
            # Headers are out: all that is left is to end the response short (the browser sees an error).
            log.warning("media_stream_broken", device=device.device_id, error=type(exc).__name__)
            raise
        finally:
            call.cancel()


def create_media_app(endpoint: MediaEndpoint, cors_origins: list[str], camera_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """A Starlette app to mount at ``/media`` on the enrolment app: event media, and the camera routes of
    :class:`agents.relay.camera_http.CameraEndpoint` (one CORS policy for both)."""
    routes = [Route("/v1/events/{event_id}/{name}", endpoint.serve, methods=["GET", "HEAD"]), *camera_routes]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "HEAD", "POST", "DELETE"],  # DELETE: ending a live view (live_http)
            allow_headers=["Range", "Authorization", "Content-Type"],
            expose_headers=["Content-Range", "Content-Length", "Accept-Ranges", "Content-Disposition",
                            "X-Picture-Taken-At", "X-Media-Error"],
            max_age=600,
        )
    ]
    return Starlette(routes=routes, middleware=middleware)
