"""The operator's fleet page: relays and devices across tenants, with the alerts firing about them."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from cloud.api.deps import CloudDep, Operator, SessionDep
from cloud.api.schemas import FleetAlertPublic, FleetDevicePublic, FleetPublic, FleetRelayPublic
from cloud.core import alertmanager
from cloud.core.db import utcnow
from cloud.services.fleet_view import attach_alerts, read_fleet_view
from guardian.runtime.logging import get_logger

router = APIRouter(prefix="/api/v1/fleet", tags=["fleet (operators)"])
log = get_logger("cloud.fleet")


@router.get("", response_model=FleetPublic)
async def fleet(_op: Operator, session: SessionDep, cloud: CloudDep) -> FleetPublic:
    """Every relay and enrolled device (ids, status, versions, last report, camera counts) and the alerts
    firing in the operator's Alertmanager, attached by their ``device``/``relay`` labels. Operators only.
    When Alertmanager cannot be read the page still answers, with ``alerts_error`` saying why."""
    settings = cloud.settings.alertmanager
    now = utcnow()
    # Alertmanager is asked while the database is read: the request holds its connection no longer than
    # the slower of the two, and at most the configured time-out.
    alerts = asyncio.create_task(alertmanager.firing_alerts(settings)) if settings.url is not None else None
    try:
        view = await run_in_threadpool(read_fleet_view, session, now)
    except BaseException:
        if alerts is not None:
            alerts.cancel()
        raise
    error = None
    if alerts is not None:
        try:
            view = attach_alerts(view, await alerts)
        except alertmanager.AlertmanagerUnavailable as exc:
            log.warning("fleet_alerts_unavailable", reason=exc.reason)
            error = exc.reason
    return FleetPublic(
        relays=[FleetRelayPublic.model_validate({**asdict(r), "alerts": _alerts(r.alerts)}) for r in view.relays],
        devices=[FleetDevicePublic.model_validate({**asdict(d), "alerts": _alerts(d.alerts)}) for d in view.devices],
        other_alerts=_alerts(view.other_alerts), alertmanager_configured=settings.url is not None,
        alerts_error=error, generated_at=now)


def _alerts(alerts: list[alertmanager.FiringAlert]) -> list[FleetAlertPublic]:
    # What an alert is about is where it is listed: its labels stay out of the answer.
    return [FleetAlertPublic(name=a.name, severity=a.severity, summary=a.summary, runbook_url=a.runbook_url,
                             starts_at=a.starts_at) for a in alerts]
