"""The signed-in member's tenant: details, plan and usage, members (admins manage them)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cloud.api.deps import TenantAdmin, TenantDep
from cloud.api.params import PathId
from cloud.api.schemas import (
    ErrorResponse,
    MemberCreate,
    MemberUpdate,
    PlanPublic,
    TenantPublic,
    TenantUpdate,
    UserPublic,
)
from cloud.core import security
from cloud.core.csp import host_port
from cloud.core.errors import Conflict, Forbidden
from cloud.services import accounts
from cloud.services.plan import plan_for
from cloud.tables import ArchiveRecord, Camera, User

router = APIRouter(prefix="/api/v1/tenant", tags=["tenant"])


def _public(scope: TenantDep) -> TenantPublic:
    relay = accounts.tenant_relay(scope.session, scope.id)
    return TenantPublic(
        id=scope.tenant.id, name=scope.tenant.name, plan=scope.tenant.plan,
        relay_id=relay.id if relay else None, relay_url=relay.endpoint_url if relay else None,
        relay_enrolment_endpoint=(relay.enrolment_endpoint or host_port(relay.endpoint_url)) if relay else None,
    )


@router.get("", response_model=TenantPublic)
def get_tenant(scope: TenantDep) -> TenantPublic:
    return _public(scope)


@router.patch("", response_model=TenantPublic)
def update_tenant(body: TenantUpdate, scope: TenantAdmin) -> TenantPublic:
    scope.tenant.name = body.name
    return _public(scope)


def usage(scope: TenantDep) -> PlanPublic:
    plan = plan_for(scope.tenant.plan)
    cameras = scope.session.scalar(scope.select(Camera, func.count(Camera.id))) or 0
    archive = scope.session.scalar(scope.select(ArchiveRecord, func.coalesce(func.sum(ArchiveRecord.size), 0))) or 0
    return PlanPublic(
        name=plan.name, max_cameras=plan.max_cameras, max_archive_bytes=plan.max_archive_bytes,
        retention_days=plan.retention_days, cameras_used=int(cameras), archive_bytes_used=int(archive),
    )


@router.get("/plan", response_model=PlanPublic)
def get_plan(scope: TenantDep) -> PlanPublic:
    """The tenant's plan, its hard limits and what is used of them."""
    return usage(scope)


@router.get("/members", response_model=list[UserPublic])
def list_members(scope: TenantDep) -> list[UserPublic]:
    rows = scope.session.scalars(scope.select(User).order_by(User.created_at)).all()
    return [UserPublic.model_validate(u) for u in rows]


@router.post("/members", status_code=status.HTTP_201_CREATED, response_model=UserPublic,
             responses={409: {"model": ErrorResponse, "description": "`email_taken`"},
                        422: {"model": ErrorResponse, "description": "`invalid_request`, or `weak_password`: the "
                              "password is too easy to guess (the message carries the advice)."}})
def add_member(body: MemberCreate, scope: TenantAdmin) -> UserPublic:
    """Add a member with a local password (the same policy as sign-up: 422 ``weak_password``)."""
    email = body.email.lower()
    accounts.check_password_strength(body.password, email=email, tenant_name=scope.tenant.name)
    if scope.session.scalars(select(User.id).where(User.email == email)).first() is not None:
        raise Conflict("an account with this e-mail exists", code="email_taken")
    user = User(email=email, password_hash=security.hash_password(body.password), tenant_id=scope.id, role=body.role)
    scope.session.add(user)
    try:
        scope.session.flush()
    except IntegrityError:
        raise Conflict("an account with this e-mail exists", code="email_taken") from None
    return UserPublic.model_validate(user)


def _last_admin_guard(scope: TenantAdmin, user: User) -> None:
    admins = scope.session.scalar(scope.select(User, func.count(User.id)).where(User.role == "admin")) or 0
    if user.role == "admin" and admins <= 1:
        raise Forbidden("a tenant keeps at least one admin", code="last_admin")


@router.patch("/members/{user_id}", response_model=UserPublic)
def update_member(user_id: PathId, body: MemberUpdate, scope: TenantAdmin) -> UserPublic:
    user = scope.get(User, user_id, "member")
    if body.role != "admin":
        _last_admin_guard(scope, user)
    user.role = body.role
    return UserPublic.model_validate(user)


@router.delete("/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(user_id: PathId, scope: TenantAdmin) -> Response:
    user = scope.get(User, user_id, "member")
    _last_admin_guard(scope, user)
    scope.session.delete(user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
