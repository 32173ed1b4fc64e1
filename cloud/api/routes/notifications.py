"""Push notifications of the signed-in member: the VAPID key browsers subscribe with, this member's
subscribed browsers, and their rules (cloud/services/notifications.py; sending: cloud/api/push.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from cloud.api.deps import CloudDep, TenantDep
from cloud.api.params import PathId
from cloud.api.schemas import (
    ErrorResponse,
    NotificationRulesShape,
    PushKeyPublic,
    PushSubscriptionCreate,
    PushSubscriptionPublic,
    QuietHours,
)
from cloud.core.webpush import application_server_key, load_vapid
from cloud.services import notifications

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

_REFUSED: dict[int | str, dict[str, Any]] = {422: {"model": ErrorResponse, "description": "`invalid_rules` or `invalid_subscription`: a rule "
                  "JSON Schema cannot state (unknown time zone or camera, a key not on the curve, an endpoint at "
                  "no push service this cloud sends to)."}}


@router.get("/vapid-key", response_model=PushKeyPublic)
def vapid_key(cloud: CloudDep, _scope: TenantDep) -> PushKeyPublic:
    if not cloud.settings.push.enabled:
        return PushKeyPublic(enabled=False, public_key=None)
    return PushKeyPublic(enabled=True, public_key=application_server_key(load_vapid(cloud.settings.push)))


@router.get("/subscriptions", response_model=list[PushSubscriptionPublic])
def list_subscriptions(scope: TenantDep) -> list[PushSubscriptionPublic]:
    return [PushSubscriptionPublic.model_validate(s) for s in notifications.subscriptions_of(scope.session, scope.user)]


@router.post("/subscriptions", response_model=PushSubscriptionPublic, status_code=201, responses=_REFUSED)
def subscribe(body: PushSubscriptionCreate, cloud: CloudDep, scope: TenantDep,
              response: Response) -> PushSubscriptionPublic:
    """Subscribe this browser (201), or renew its keys (200)."""
    row, created = notifications.subscribe(scope.session, scope.user, scope.id, body.endpoint, body.keys.p256dh,
                                           body.keys.auth, cloud.settings.push.endpoint_origins)
    response.status_code = 201 if created else 200
    return PushSubscriptionPublic.model_validate(row)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
def unsubscribe(subscription_id: PathId, scope: TenantDep) -> Response:
    notifications.unsubscribe(scope.session, scope.user, subscription_id)
    return Response(status_code=204)


def _public(rules: notifications.Rules) -> NotificationRulesShape:
    quiet = (QuietHours(start=rules.quiet_start, end=rules.quiet_end)
             if rules.quiet_start is not None and rules.quiet_end is not None else None)
    return NotificationRulesShape(enabled=rules.enabled, cameras=rules.cameras, labels=rules.labels,
                                  zones=rules.zones, quiet_hours=quiet, time_zone=rules.time_zone,
                                  severity="alert" if rules.severity == "alert" else "all")


@router.get("/rules", response_model=NotificationRulesShape)
def get_rules(scope: TenantDep) -> NotificationRulesShape:
    return _public(notifications.rules_of(scope.session, scope.user))


@router.put("/rules", response_model=NotificationRulesShape, responses=_REFUSED)
def put_rules(body: NotificationRulesShape, scope: TenantDep) -> NotificationRulesShape:
    rules = notifications.Rules(
        enabled=body.enabled, cameras=body.cameras, labels=body.labels, zones=body.zones,
        quiet_start=body.quiet_hours.start if body.quiet_hours else None,
        quiet_end=body.quiet_hours.end if body.quiet_hours else None, time_zone=body.time_zone,
        severity=body.severity)
    return _public(notifications.save_rules(scope.session, scope.user, scope.id, rules))
