"""Liveness/readiness and Prometheus metrics."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from cloud.api.deps import CloudDep, service_session
from cloud.api.fleet_metrics import fleet_exposition
from cloud.api.schemas import ErrorResponse
from cloud.core.errors import ApiError, Forbidden
from cloud.core.state import Cloud
from cloud.services.fleet import read_fleet

router = APIRouter(tags=["operations"])


def _database_answers(cloud: Cloud) -> None:
    with cloud.service_engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@router.get("/healthz", responses={503: {"model": ErrorResponse, "description": "`unavailable`: the database does "
                                         "not answer; `busy`: no database turn in time"}})
async def healthz(cloud: CloudDep) -> dict[str, str]:
    """200 when the database answers; 503 otherwise. Checked on the service pool: browser load alone does
    not take a load-balanced instance out of service."""
    async with cloud.gates.service:
        try:
            await run_in_threadpool(_database_answers, cloud)
        except Exception:
            raise ApiError("database unavailable", code="unavailable", status=503) from None
    return {"status": "ok"}


@router.get("/metrics", response_class=Response, responses={503: {"model": ErrorResponse, "description": "`busy`: "
                                                                    "no database turn in time for the fleet gauges"}})
async def metrics(request: Request, cloud: CloudDep) -> Response:
    """Prometheus metrics, only for the networks in ``http.metrics_allow_from``: this process's (or every
    worker's) and the fleet gauges, read from the database on the service pool per scrape."""
    host = request.client.host if request.client else ""
    try:
        address = ip_address(host)
    except ValueError:
        address = None
    allowed = [ip_network(n, strict=False) for n in cloud.settings.http.metrics_allow_from]
    if address is None or not any(address in net for net in allowed):
        raise Forbidden("metrics are not served to this address")
    async with service_session(cloud) as session:
        fleet = await run_in_threadpool(read_fleet, session)
    body = await run_in_threadpool(cloud.metrics.exposition)
    return Response(body + fleet_exposition(fleet), media_type=CONTENT_TYPE_LATEST)
