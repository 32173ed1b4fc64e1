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
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from agents.relay.errors import EnrolmentRefused
from agents.relay.pki import DeviceCA
from agents.relay.registry import Registry
from guardian.runtime.logging import get_logger

log = get_logger("guardian.relay.enrolment")


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
