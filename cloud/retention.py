"""Retention: events and archive records older than each tenant's plan allows, and expired auth rows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cloud.core.db import utcnow
from cloud.core.plan import PLANS, plan_for
from cloud.models import ArchiveRecord, Event, LoginFailure, OidcLogin, RefreshSession, RelayNonce, Tenant
from guardian import tokens


def cleanup(session: Session, login_window_seconds: int = 900) -> dict[str, int]:
    """Delete what is past retention; returns rows deleted per table. Safe to run on every replica."""
    now = utcnow()
    deleted: dict[str, int] = {}
    plans_in_use = {row for row in session.scalars(select(Tenant.plan).distinct())}
    for name in plans_in_use | set(PLANS):
        plan = plan_for(name)
        cutoff = now - timedelta(days=plan.retention_days)
        tenants = select(Tenant.id).where(Tenant.plan == name).scalar_subquery()
        deleted["events"] = deleted.get("events", 0) + session.execute(
            delete(Event).where(Event.tenant_id.in_(tenants), Event.start_at < cutoff)
        ).rowcount
        deleted["archive_records"] = deleted.get("archive_records", 0) + session.execute(
            delete(ArchiveRecord).where(ArchiveRecord.tenant_id.in_(tenants), ArchiveRecord.stored_at < cutoff)
        ).rowcount
    deleted["login_failures"] = session.execute(
        delete(LoginFailure).where(LoginFailure.at < now - timedelta(seconds=login_window_seconds))
    ).rowcount
    deleted["relay_nonces"] = session.execute(
        delete(RelayNonce).where(RelayNonce.seen_at < now - timedelta(seconds=2 * tokens.REQUEST_WINDOW))
    ).rowcount
    deleted["oidc_logins"] = session.execute(delete(OidcLogin).where(OidcLogin.created_at < now - timedelta(minutes=10))).rowcount
    deleted["refresh_sessions"] = session.execute(delete(RefreshSession).where(RefreshSession.expires_at < now)).rowcount
    return deleted
