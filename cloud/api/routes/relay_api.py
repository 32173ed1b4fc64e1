"""What relays call, with Ed25519-signed requests (:mod:`guardian.contracts.auth`): ingestion, enrolment, and
the feeds relays poll (revocations, desired configs; the latter as a long poll)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from google.protobuf import json_format
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from cloud.api.deps import CloudDep, SignedRelay
from cloud.api.errors import error_body
from cloud.api.schemas import BootstrapConsume, ErrorResponse, RelayConfigs, Revocation
from cloud.core.capacity import Busy
from cloud.core.config_waits import ConfigWaits, Mark
from cloud.core.db import utcnow
from cloud.core.errors import ApiError, Conflict, NotFound
from cloud.core.state import Cloud
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


WAIT_HEADER = "X-Guardian-Wait"
MAX_WAIT_SECONDS = 30


async def get_config_waits(request: Request) -> ConfigWaits:  # async: no worker-thread hop
    waits: ConfigWaits = request.app.state.config_waits
    return waits


ConfigWaitsDep = Annotated[ConfigWaits, Depends(get_config_waits)]


def _configs_answer(texts: list[str], cursor: int, wait: int) -> Response:
    # The stored texts are the proto3 JSON the relays receive: put together, not parsed and encoded again.
    body = '{"configs":[' + ",".join(texts) + '],"cursor":"' + str(cursor) + '"}'
    return Response(body, media_type="application/json", headers={WAIT_HEADER: str(wait)})


@router.get("/relay/configs", response_model=RelayConfigs, responses={200: {
    "description": "The configs after the cursor (none: nothing changed within `wait` seconds, or the server "
                   "is stopping; ask again at once).",
    "headers": {WAIT_HEADER: {"description": "The `wait` this cloud honoured (a cloud without long polls sends "
                              "no such header: poll it at intervals instead).",
                              "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS}}}}})
async def configs(
    caller: SignedRelay,
    cloud: CloudDep,
    waits: ConfigWaitsDep,
    after: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$", description="The cursor of the previous answer; "
                                       "omitted: every device's newest configuration.")] = None,
    wait: Annotated[int, Query(ge=0, le=MAX_WAIT_SECONDS, description="Long poll: when nothing changed after "
                               "`after`, wait up to this many seconds for a change; 0: answer at once.")] = 0,
) -> Response:
    """The newest desired configuration (``guardian.edge.v1.DesiredConfig``, proto3 JSON) of each device of
    the calling relay's tenant that changed after ``after``, oldest change first (a bounded page; poll
    again with ``cursor`` for the rest), revoked devices left out. Camera credentials in them are sealed to
    each edge's own key.

    A long poll with ``wait``: when nothing changed after ``after``, the answer comes as soon as a tenant
    admin saves a config of the tenant (on any worker or host of the cloud), or empty after ``wait``
    seconds, or empty at once when the server is stopping. Either way the relay asks again at once. A
    waiting request holds neither a database connection nor a worker thread, so any number of relays may
    wait without taking turns from other relay requests.
    """
    tenant_id = caller.tenant_id
    after_seq = int(after or 0)
    mark = waits.mark(tenant_id)  # before the read: a save committed after it ends the wait at once
    texts, cursor = await run_in_threadpool(device_config.for_relay, caller.session, tenant_id, after_seq)
    if texts or not wait:
        return _configs_answer(texts, cursor, wait)
    # Answered once the request's session and database turn are given back (FastAPI ends the dependencies
    # of scope "function" before it sends the response).
    return _ConfigsLongPoll(cloud, waits, tenant_id, after_seq, mark, wait)


class _ConfigsLongPoll(Response):
    """The answer to a long poll with nothing new yet: waits in the event loop, without a session."""

    def __init__(self, cloud: Cloud, waits: ConfigWaits, tenant_id: str, after: int, mark: Mark, wait: int) -> None:
        super().__init__()
        self._cloud, self._waits, self._tenant_id, self._after, self._mark, self._wait = (
            cloud, waits, tenant_id, after, mark, wait)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.ensure_future(_disconnect(receive))
        self._cloud.metrics.config_waits.inc()
        try:
            answer = await self._answer(gone)
        finally:
            self._cloud.metrics.config_waits.dec()
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone
        if answer is not None:
            await answer(scope, receive, send)

    async def _answer(self, gone: asyncio.Future[None]) -> Response | None:
        """What to send; None when the relay went away meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        mark = self._mark
        while True:
            waiting = asyncio.ensure_future(self._waits.wait(self._tenant_id, mark, deadline - loop.time()))
            either: set[asyncio.Future[Any]] = {waiting, gone}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not waiting.done():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
                return None
            if not waiting.result():  # time is up or the server is stopping
                return _configs_answer([], self._after, self._wait)
            mark = self._waits.mark(self._tenant_id)
            try:
                async with self._cloud.gates.service:
                    texts, cursor = await run_in_threadpool(self._read)
            except Busy as exc:
                return error_body(exc.status, exc.code, exc.message, headers=exc.headers)
            if texts:
                return _configs_answer(texts, cursor, self._wait)
            # Announced but not newer than the cursor (a save the first read already had): wait on.

    def _read(self) -> tuple[list[str], int]:
        with self._cloud.service_sessions() as session:
            return device_config.for_relay(session, self._tenant_id, self._after)


async def _disconnect(receive: Receive) -> None:
    """Returns once the client has gone (its request body was read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


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
