"""Operators register pre-provisioned relays (endpoint + Ed25519 public key) into the pool.

A relay's ``endpoint_url`` is where browsers fetch media, so changing relays changes the UI's
Content-Security-Policy: each change here commits, then tells :class:`cloud.core.csp.ContentSecurityPolicy`.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cloud.api.deps import CloudDep, Operator, SessionDep
from cloud.api.params import PathId
from cloud.api.schemas import ErrorResponse, RelayCreate, RelayPublic, RelayUpdate
from cloud.core.errors import ApiError, Conflict, NotFound
from cloud.tables import Relay
from guardian.contracts import auth

router = APIRouter(prefix="/api/v1/relays", tags=["relays (operators)"])


def _check_key(text: str) -> str:
    try:
        auth.public_key_from_text(text)
    except ValueError as exc:
        raise ApiError(str(exc), code="bad_public_key", status=422) from None
    return text


def register_relay(session: SessionDep, body: RelayCreate) -> Relay:
    relay = Relay(name=body.name, endpoint_url=body.endpoint_url.rstrip("/"), public_key=_check_key(body.public_key),
                  enrolment_endpoint=body.enrolment_endpoint or None)
    session.add(relay)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("a relay with this name exists", code="relay_exists") from None
    return relay


@router.get("", response_model=list[RelayPublic])
def list_relays(_op: Operator, session: SessionDep) -> list[RelayPublic]:
    return [RelayPublic.model_validate(r) for r in session.scalars(select(Relay).order_by(Relay.created_at))]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RelayPublic,
             responses={409: {"model": ErrorResponse, "description": "`relay_exists`: a relay with this name exists"},
                        422: {"model": ErrorResponse, "description": "`invalid_request`, or `bad_public_key`"}})
def create_relay(body: RelayCreate, _op: Operator, session: SessionDep, cloud: CloudDep) -> RelayPublic:
    relay = RelayPublic.model_validate(register_relay(session, body))
    session.commit()
    cloud.csp.invalidate()
    return relay


@router.get("/{relay_id}", response_model=RelayPublic)
def get_relay(relay_id: PathId, _op: Operator, session: SessionDep) -> RelayPublic:
    relay = session.get(Relay, relay_id)
    if relay is None:
        raise NotFound("relay not found")
    return RelayPublic.model_validate(relay)


@router.patch("/{relay_id}", response_model=RelayPublic)
def update_relay(relay_id: PathId, body: RelayUpdate, _op: Operator, session: SessionDep, cloud: CloudDep) -> RelayPublic:
    relay = session.get(Relay, relay_id)
    if relay is None:
        raise NotFound("relay not found")
    if body.endpoint_url is not None:
        relay.endpoint_url = body.endpoint_url.rstrip("/")
    if body.public_key is not None:
        relay.public_key = _check_key(body.public_key)
    if body.enabled is not None:
        relay.enabled = body.enabled
    if "enrolment_endpoint" in body.model_fields_set:
        relay.enrolment_endpoint = body.enrolment_endpoint or None
    public = RelayPublic.model_validate(relay)
    session.commit()
    cloud.csp.invalidate()
    return public
