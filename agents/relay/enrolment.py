"""The relay's HTTPS enrolment endpoint.

``POST /api/v1/enrol`` (public address): ``{"token", "public_key", "device_id"?}`` — a single-use
bootstrap token from the cloud and the edge's WireGuard public key (made on the edge; the private key
never leaves it). With ``device_id`` it is a re-enrolment: the device keeps its id and tunnel address
and gets the new key. The answer tells the edge how to reach the relay through the tunnel.

tls mode (the local demo, no WireGuard): the request also carries ``csr``, a PEM certificate signing
request for a key the edge made; ``public_key`` is then base64(SHA-256(its SubjectPublicKeyInfo)). The
answer adds ``client_certificate`` (issued by the relay's device CA, CN = device id) and ``client_ca``.
See :mod:`agents.relay.pki`.

``POST /api/v1/rotate`` (only from inside the tunnel; the caller is the device whose tunnel address it
comes from): ``{"public_key"}`` replaces the key. The relay applies the change to WireGuard shortly
*after* answering, so the answer still travels over the old key.

Refusals are JSON ``{"error": <stable reason>, "detail": <for people>}`` with 401/403/404/409/422.
Tokens and keys are never logged.

Every request body on this listener (enrolment, rotation and the ``/media`` mount alike; all of it is
reachable without credentials) is limited to :data:`MAX_BODY_BYTES`: larger is 413 ``too_large``, by
``Content-Length`` before anything is read, or as soon as a chunked body passes the limit, and the
connection is closed so the rest is never read (:class:`BodyLimit`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agents.relay.errors import EnrolmentRefused
from agents.relay.pki import DeviceCA
from agents.relay.registry import Registry
from guardian.runtime.logging import get_logger

log = get_logger("guardian.relay.enrolment")

#: The largest body an enrolment takes is a token (4 KiB), a key, an id and a CSR (8 KiB) as JSON, all
#: ASCII: 64 KiB is four times that, and keeps what a stranger can make the relay hold small.
MAX_BODY_BYTES = 64 * 1024


class BodyLimit:
    """413 for request bodies over ``limit`` bytes, before the app sees them.

    The body is read here (never more than ``limit`` plus one received chunk is held) and handed to the
    app in one piece: the bodies on this listener are small JSON documents, so nothing streams. A refusal carries
    ``Connection: close``: uvicorn then closes the connection instead of reading (and discarding) the
    rest of a large body.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, read: int) -> None:
        client = scope.get("client") or ("?", 0)
        log.warning("request_body_too_large", client=client[0], path=scope.get("path", ""), limit=self.limit,
                    read=read)
        response = JSONResponse({"error": "too_large", "detail": f"request body over {self.limit} bytes"},
                                status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > self.limit):
            await self._refuse(scope, receive, send, 0)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body was complete: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send, size)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message | None = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay() -> Message:
            nonlocal body
            if body is not None:
                message, body = body, None
                return message
            return await receive()  # after the body: the disconnect a streaming response waits for

        await self.app(scope, replay, send)


class EnrolRequest(BaseModel):
    token: str = Field(max_length=4096)
    public_key: str = Field(max_length=64)
    device_id: str | None = Field(None, max_length=64)
    csr: str | None = Field(None, max_length=8192, description="tls mode only: PEM CSR for the device key.")


class RotateRequest(BaseModel):
    public_key: str = Field(max_length=64)


@dataclass(frozen=True)
class RelayInfo:
    relay_public_key: str
    relay_endpoint: str
    relay_tunnel_address: str
    tunnel_prefix: int
    uplink_port: int
    media_port: int
    keepalive_s: int


def create_app(
    registry: Registry, info: RelayInfo, on_change: Callable[[], None], device_ca: DeviceCA | None = None
) -> FastAPI:
    """The enrolment app; with ``device_ca`` (tls mode) enrolment needs a CSR and issues a certificate."""
    app = FastAPI(title="Guardian relay enrolment", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit)  # wraps the routes and what is mounted later (/media)
    lock = threading.Lock()  # one enrolment at a time: address allocation and nonce use stay simple

    def answer(device_id: str, tenant_id: str, address: str, reenrolled: bool) -> dict[str, object]:
        return {
            "device_id": device_id,
            "tenant_id": tenant_id,
            "tunnel_address": address,
            "tunnel_prefix": info.tunnel_prefix,
            "relay_public_key": info.relay_public_key,
            "relay_endpoint": info.relay_endpoint,
            "relay_tunnel_address": info.relay_tunnel_address,
            "uplink_port": info.uplink_port,
            "media_port": info.media_port,
            "keepalive_s": info.keepalive_s,
            "reenrolled": reenrolled,
        }

    @app.exception_handler(EnrolmentRefused)
    async def _refused(request: Request, exc: EnrolmentRefused) -> JSONResponse:
        client = request.client.host if request.client else "?"
        log.warning("enrolment_refused", reason=exc.reason, client=client, path=request.url.path)
        return JSONResponse({"error": exc.reason, "detail": str(exc)}, status_code=exc.status)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/enrol")
    def enrol(body: EnrolRequest) -> dict[str, object]:
        csr = None
        if device_ca is None and body.csr:
            raise EnrolmentRefused("csr_unexpected", "this relay runs in wireguard mode: enrol with a WireGuard key", 422)
        if device_ca is not None:
            if not body.csr:
                raise EnrolmentRefused("csr_required", "this relay runs in tls mode: send a csr", 422)
            registry.verify_token(body.token)  # a bad token is the first thing to report
            csr = device_ca.check_request(body.csr, body.public_key)  # before the token is spent
        with lock:
            result = registry.enrol(body.token, body.public_key, body.device_id)
        on_change()
        reply = answer(result.device_id, result.tenant_id, result.tunnel_address, result.reenrolled)
        if device_ca is not None and csr is not None:
            reply["client_certificate"] = device_ca.issue(csr, result.device_id, result.tunnel_address).decode()
            reply["client_ca"] = device_ca.ca_pem.decode()
        return reply

    @app.post("/api/v1/rotate")
    def rotate(body: RotateRequest, request: Request) -> dict[str, object]:
        source = request.client.host if request.client else ""
        with lock:
            device = registry.rotate_key(source, body.public_key)
        on_change()
        return answer(device.device_id, device.tenant_id, device.tunnel_address, True)

    return app
