"""Annotated dependencies: ``SessionDep``, ``CurrentUser``, ``TenantDep`` (every tenant-scoped query
goes through it), ``TenantAdmin``, ``Operator`` and ``SignedRelay`` (relay → cloud requests).

A session is handed out only after the request's turn at the database (:mod:`cloud.core.capacity`), and the
signed-in member and their tenant are read in one step (one thread hop, one query): a request never holds
a connection while it waits for a worker thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Select, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cloud.api.cookies import ACCESS_COOKIE
from cloud.core import security
from cloud.core.capacity import Gate
from cloud.core.db import utcnow
from cloud.core.errors import Forbidden, NotFound, Unauthorized
from cloud.core.state import Cloud
from cloud.tables import Relay, RelayNonce, Tenant, User
from guardian.contracts import auth
from guardian.contracts.user_agent import relay_version_of

M = TypeVar("M")


async def get_cloud(request: Request) -> Cloud:  # async: no worker-thread hop for an attribute
    cloud: Cloud = request.app.state.cloud
    return cloud


CloudDep = Annotated[Cloud, Depends(get_cloud)]


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


@asynccontextmanager
async def _session_after_turn(gate: Gate, factory: sessionmaker[Session]) -> AsyncIterator[Session]:
    """The unit of work of one request: commit on success, roll back on any error.

    The session is made in the event loop (no I/O) once ``gate`` admits the request; its queries run in the
    request's worker threads; commit (or rollback) and close run in one more hop, shielded so a client that
    goes away cannot leave a connection checked out. The turn ends once the connection is back in the pool.
    """
    async with gate:
        session = factory()
        commit = False
        try:
            yield session
            commit = True
        finally:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(_finish, session, commit)


async def get_session(cloud: CloudDep) -> AsyncIterator[Session]:
    async with _session_after_turn(cloud.gates.api, cloud.sessions) as session:
        yield session


def service_session(cloud: Cloud) -> AbstractAsyncContextManager[Session]:
    """A unit of work on the service pool, for a route that needs one only after its own checks."""
    return _session_after_turn(cloud.gates.service, cloud.service_sessions)


async def get_service_session(cloud: CloudDep) -> AsyncIterator[Session]:
    async with service_session(cloud) as session:
        yield session


# scope="function": the transaction commits before the response is sent. FastAPI's default for a
# dependency with ``yield`` ("request") runs the commit after the response has gone out, so a client could
# act on an answer before its writes exist (sign-up answered with an access token for a user not yet
# committed: "access token no longer valid"), or get a 2xx for a write whose commit then failed. It also
# gives the turn back before a long response (the live stream) starts.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ServiceSessionDep = Annotated[Session, Depends(get_service_session, scope="function")]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.cookies.get(ACCESS_COOKIE)


def _signed_in(request: Request, cloud: Cloud, session: Session) -> tuple[User, Tenant | None]:
    """The member the access token names and their tenant, read in one query."""
    token = _bearer(request)
    if not token:
        raise Unauthorized("not signed in", headers={"WWW-Authenticate": "Bearer"})
    claims = security.read_access_token(cloud.secret, token)
    if claims is None:
        raise Unauthorized("access token invalid or expired", headers={"WWW-Authenticate": "Bearer"})
    row = session.execute(
        select(User, Tenant).outerjoin(Tenant, Tenant.id == User.tenant_id).where(User.id == str(claims["sub"]))
    ).first()
    if row is None or row[0].token_version != claims.get("ver"):
        raise Unauthorized("access token no longer valid", headers={"WWW-Authenticate": "Bearer"})
    request.state.access_claims = claims  # for what outlives the request's check (the live stream)
    return row[0], row[1]


def get_current_user(request: Request, cloud: CloudDep, session: SessionDep) -> User:
    return _signed_in(request, cloud, session)[0]


CurrentUser = Annotated[User, Depends(get_current_user)]


@dataclass
class TenantScope:
    """The signed-in member's tenant. Tenant-owned rows are only reachable through its methods."""

    tenant: Tenant
    user: User
    session: Session

    @property
    def id(self) -> str:
        return self.tenant.id

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    def select(self, model: type[M], *columns: Any) -> Select[Any]:
        """``SELECT`` of ``model`` (or of ``columns``) already restricted to this tenant."""
        stmt = select(*columns) if columns else select(model)
        return stmt.where(model.tenant_id == self.tenant.id)  # type: ignore[attr-defined]

    def get(self, model: type[M], ident: str, what: str = "object") -> M:
        """One row of this tenant by primary-key ``id``, or 404 (also when it belongs to another tenant)."""
        row: M | None = self.session.scalars(
            self.select(model).where(model.id == ident)  # type: ignore[attr-defined]
        ).first()
        if row is None:
            raise NotFound(f"{what} not found")
        return row

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("tenant admin role required")


def get_tenant(request: Request, cloud: CloudDep, session: SessionDep) -> TenantScope:
    user, tenant = _signed_in(request, cloud, session)
    if tenant is None:
        raise Forbidden("this account belongs to no tenant")
    return TenantScope(tenant=tenant, user=user, session=session)


TenantDep = Annotated[TenantScope, Depends(get_tenant)]


def get_tenant_admin(scope: TenantDep) -> TenantScope:
    scope.require_admin()
    return scope


TenantAdmin = Annotated[TenantScope, Depends(get_tenant_admin)]


def get_operator(user: CurrentUser) -> User:
    if not user.is_operator:
        raise Forbidden("operator role required")
    return user


Operator = Annotated[User, Depends(get_operator)]


# --- relays -----------------------------------------------------------------------------------------


async def read_body(request: Request) -> bytes:
    return await request.body()


@dataclass
class RelayCaller:
    relay: Relay
    body: bytes
    session: Session

    @property
    def tenant_id(self) -> str:
        if self.relay.tenant_id is None:
            raise Forbidden("relay is not assigned to a tenant", code="relay_unassigned")
        return self.relay.tenant_id


def get_signed_relay(
    request: Request, cloud: CloudDep, session: ServiceSessionDep, body: Annotated[bytes, Depends(read_body)]
) -> RelayCaller:
    """Authenticate a relay request by its Ed25519 signature, RFC 9421 or the legacy ``X-Guardian-*`` headers
    (:mod:`guardian.contracts.auth.requests`); refuse replays."""
    relay_id = auth.relay_id_of(request.headers)
    relay = session.get(Relay, relay_id) if relay_id and len(relay_id) <= 36 else None
    if relay is None or not relay.enabled:
        raise Unauthorized("unknown or disabled relay", code="relay_auth")
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        signed = auth.verify_relay_request(
            request.headers,
            auth.public_key_from_text(relay.public_key),
            method=request.method,
            path=path,
            body=body,
        )
    except auth.TokenError as exc:
        raise Unauthorized(str(exc), code="relay_auth") from None
    now = utcnow()
    try:
        with session.begin_nested():
            session.add(RelayNonce(relay_id=relay.id, nonce=signed.nonce, seen_at=now))
    except IntegrityError:
        raise Unauthorized("request replayed (nonce already used)", code="relay_replay") from None
    # Nonces older than the window cannot be replayed anyway (the timestamp check refuses them).
    session.execute(
        delete(RelayNonce).where(
            RelayNonce.relay_id == relay.id, RelayNonce.seen_at < now - timedelta(seconds=2 * auth.REQUEST_WINDOW)
        )
    )
    relay.last_seen_at = now
    # A relay names its version in its User-Agent (for the operator's fleet page); older relays do not.
    version = relay_version_of(request.headers.get("user-agent", ""))
    if version and version != relay.agent_version:
        relay.agent_version = version
    return RelayCaller(relay=relay, body=body, session=session)


SignedRelay = Annotated[RelayCaller, Depends(get_signed_relay)]
