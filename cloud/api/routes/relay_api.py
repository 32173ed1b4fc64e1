"""What relays call, with Ed25519-signed requests (:mod:`guardian.contracts.auth`): ingestion and enrolment."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Response
from google.protobuf import json_format
from sqlalchemy import select

from cloud.api.deps import CloudDep, SignedRelay
from cloud.api.schemas import BootstrapConsume, ErrorResponse, RelayConfigs, Revocation
from cloud.core.db import utcnow
from cloud.core.errors import ApiError, Conflict, NotFound
from cloud.services import device_config
from cloud.services import ingest as ingestion
from cloud.tables import BootstrapToken, Device
from guardian.runtime.logging import get_logger

router = APIRouter(prefix="/api/v1", tags=["relay (signed requests)"])
log = get_logger("cloud.services.ingest")

_RESULT_EXAMPLE = {"eventsAccepted": 2, "eventsDuplicate": 0, "healthAccepted": 1, "archivesAccepted": 0}


@router.post(
    "/ingest",
    responses={200: {"content": {"application/json": {"example": _RESULT_EXAMPLE}},
                     "description": "An IngestResult (proto3 JSON)."}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "description": "guardian.cloud.v1.IngestBatch in the proto3 JSON mapping"}}}}},
)
def ingest(caller: SignedRelay, cloud: CloudDep) -> Response:
    """Store an ``IngestBatch`` (event summaries, device health, archive records) from the calling relay.

    Response headers ``X-Guardian-Rejected-Events`` / ``-Archives`` count items dropped by plan limits
    (camera count, retention, archive bytes); ``X-Guardian-Rejected-Config-Status`` the config reports of
    devices the tenant does not hold (unknown, revoked). They will not be accepted on retry either.
    """
    metrics = cloud.metrics
    try:
        batch = ingestion.parse_batch(caller.body)
        outcome = ingestion.ingest(caller.session, cloud.bus, caller.relay, batch)
    except ApiError as exc:
        metrics.ingest_batches.labels(exc.code).inc()
        log.warning("ingest_refused", relay=caller.relay.id, code=exc.code)
        raise
    metrics.ingest_batches.labels("ok").inc()
    metrics.ingest_events.labels("accepted").inc(outcome.result.events_accepted)
    updated = len(outcome.updated_event_ids)
    metrics.ingest_events.labels("updated").inc(updated)
    metrics.ingest_events.labels("duplicate").inc(outcome.result.events_duplicate - updated)
    metrics.ingest_events.labels("rejected").inc(outcome.rejected_events)
    body = json_format.MessageToJson(outcome.result, always_print_fields_with_no_presence=True, indent=None)
    return Response(
        body, media_type="application/json",
        headers={"X-Guardian-Rejected-Events": str(outcome.rejected_events),
                 "X-Guardian-Rejected-Archives": str(outcome.rejected_archives),
                 "X-Guardian-Rejected-Config-Status": str(outcome.rejected_config_status)},
    )


@router.get("/relay/whoami")
def whoami(caller: SignedRelay) -> dict[str, str | None]:
    """The calling relay's id and tenant (the tenant it must check clip tokens against)."""
    return {"relay_id": caller.relay.id, "tenant_id": caller.relay.tenant_id}


@router.get("/relay/revocations", response_model=list[Revocation], response_model_exclude_none=True)
def revocations(caller: SignedRelay) -> list[Revocation]:
    """What this relay must refuse, by ``kind``:

    - ``bootstrap_token``: ``nonce``, ``expires_at`` — its tokens revoked or used and not yet expired;
    - ``device``: ``device_id``, ``revoked_at`` — devices of its tenant revoked by a tenant admin
      (``DELETE /api/v1/devices/{id}``); revoke them locally (``guardian-relay device revoke``). Listed
      for good: a relay that missed one, or was rebuilt, still learns it.
    """
    now = utcnow()
    rows = caller.session.scalars(
        select(BootstrapToken).where(
            BootstrapToken.relay_id == caller.relay.id,
            BootstrapToken.expires_at > now,
            (BootstrapToken.revoked_at.is_not(None)) | (BootstrapToken.used_at.is_not(None)),
        )
    )
    out = [Revocation(kind="bootstrap_token", nonce=r.id, expires_at=r.expires_at) for r in rows]
    if caller.relay.tenant_id is not None:
        devices = caller.session.scalars(
            select(Device).where(Device.tenant_id == caller.relay.tenant_id, Device.revoked_at.is_not(None))
            .order_by(Device.revoked_at, Device.id)
        )
        out += [Revocation(kind="device", device_id=d.id, revoked_at=d.revoked_at) for d in devices]
    return out


@router.get("/relay/configs", response_model=RelayConfigs)
def configs(
    caller: SignedRelay,
    after: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$", description="The cursor of the previous answer; "
                                       "omitted: every device's newest configuration.")] = None,
) -> RelayConfigs:
    """The newest desired configuration (``guardian.edge.v1.DesiredConfig``, proto3 JSON) of each device of
    the calling relay's tenant that changed after ``after``, oldest change first (a bounded page; poll
    again with ``cursor`` for the rest), revoked devices left out. Camera credentials in them are sealed to
    each edge's own key."""
    texts, cursor = device_config.for_relay(caller.session, caller.tenant_id, int(after or 0))
    return RelayConfigs(configs=[json.loads(t) for t in texts], cursor=str(cursor))


@router.post("/relay/bootstrap/consume", status_code=204,
             responses={409: {"model": ErrorResponse, "description": "`token_used`, `token_revoked` or `token_expired`"}})
def consume_bootstrap(body: BootstrapConsume, caller: SignedRelay) -> Response:
    """Mark a bootstrap token used (the relay verified it offline first). 409 ``token_used``,
    ``token_revoked`` (the relay then revokes the device that enrolled with it) or ``token_expired``."""
    row = caller.session.get(BootstrapToken, body.nonce)
    if row is None or row.relay_id != caller.relay.id:
        raise NotFound("bootstrap token not found")
    now = utcnow()
    # Which one matters to the relay: a token revoked before its use was reported means a device got in
    # with a token the tenant admin had withdrawn, and the relay revokes that device.
    if row.used_at is not None:
        raise Conflict("bootstrap token already used", code="token_used")
    if row.revoked_at is not None:
        raise Conflict("bootstrap token was revoked before its use was reported", code="token_revoked")
    if row.expires_at <= now:
        raise Conflict("bootstrap token expired before its use was reported", code="token_expired")
    row.used_at = now
    return Response(status_code=204)
