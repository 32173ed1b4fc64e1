"""Liveness/readiness and Prometheus metrics."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from cloud.api.deps import CloudDep
from cloud.api.schemas import ErrorResponse
from cloud.core.errors import ApiError, Forbidden

router = APIRouter(tags=["operations"])


@router.get("/healthz", responses={503: {"model": ErrorResponse, "description": "`unavailable`: the database does not answer"}})
def healthz(cloud: CloudDep) -> dict[str, str]:
    """200 when the database answers; 503 otherwise."""
    try:
        with cloud.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        raise ApiError("database unavailable", code="unavailable", status=503) from None
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
def metrics(request: Request, cloud: CloudDep) -> Response:
    """Prometheus metrics, only for the networks in ``http.metrics_allow_from``."""
    host = request.client.host if request.client else ""
    try:
        address = ip_address(host)
    except ValueError:
        address = None
    allowed = [ip_network(n, strict=False) for n in cloud.settings.http.metrics_allow_from]
    if address is None or not any(address in net for net in allowed):
        raise Forbidden("metrics are not served to this address")
    return Response(generate_latest(cloud.metrics.registry.registry), media_type=CONTENT_TYPE_LATEST)
