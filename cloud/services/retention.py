"""Retention: events and archive records older than each tenant's plan allows, and expired auth rows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import CursorResult, Delete, delete, select
from sqlalchemy.orm import Session

from cloud.core.db import utcnow
from cloud.services.plan import PLANS, plan_for
from cloud.tables import ArchiveRecord, Event, LoginFailure, OidcLogin, RefreshSession, RelayNonce, Tenant
from guardian.contracts import auth


def cleanup(session: Session, throttle_window_seconds: int = 3600) -> dict[str, int]:
    """Delete what is past retention; returns rows deleted per table. Safe to run on every replica."""
    now = utcnow()
    deleted: dict[str, int] = {}
    plans_in_use = set(session.scalars(select(Tenant.plan).distinct()))
    for name in plans_in_use | set(PLANS):
        plan = plan_for(name)
        cutoff = now - timedelta(days=plan.retention_days)
        tenants = select(Tenant.id).where(Tenant.plan == name).scalar_subquery()
        deleted["events"] = deleted.get("events", 0) + _delete(
            session, delete(Event).where(Event.tenant_id.in_(tenants), Event.start_at < cutoff)
        )
        deleted["archive_records"] = deleted.get("archive_records", 0) + _delete(
            session, delete(ArchiveRecord).where(ArchiveRecord.tenant_id.in_(tenants), ArchiveRecord.stored_at < cutoff)
        )
    deleted["login_failures"] = _delete(
        session, delete(LoginFailure).where(LoginFailure.at < now - timedelta(seconds=throttle_window_seconds))
    )
    deleted["relay_nonces"] = _delete(
        session, delete(RelayNonce).where(RelayNonce.seen_at < now - timedelta(seconds=2 * auth.REQUEST_WINDOW))
    )
    deleted["oidc_logins"] = _delete(session, delete(OidcLogin).where(OidcLogin.created_at < now - timedelta(minutes=10)))
    deleted["refresh_sessions"] = _delete(session, delete(RefreshSession).where(RefreshSession.expires_at < now))
    return deleted


def _delete(session: Session, stmt: Delete) -> int:
    result = session.execute(stmt)
    # A DELETE answers with a CursorResult (it has rowcount); Session.execute is typed for any Result.
    assert isinstance(result, CursorResult)
    return result.rowcount
