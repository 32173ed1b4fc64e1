"""Account logic shared by password and OIDC logins: tenants on sign-up, relay assignment, sessions."""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from cloud.core import security
from cloud.core.db import utcnow
from cloud.core.errors import TooMany, Unauthorized
from cloud.core.state import Cloud
from cloud.models import LoginFailure, RefreshSession, Relay, Tenant, TokenPublic, User
from guardian.runtime.logging import get_logger

log = get_logger("cloud.accounts")

ACCESS_COOKIE = "guardian_access"
REFRESH_COOKIE = "guardian_refresh"
REFRESH_PATH = "/api/v1/auth"


def create_tenant(session: Session, name: str) -> Tenant:
    """A new tenant on the Free plan, with a relay from the pool if one is free."""
    tenant = Tenant(name=name, plan="free")
    session.add(tenant)
    session.flush()
    stmt = select(Relay).where(Relay.tenant_id.is_(None), Relay.enabled.is_(True)).order_by(Relay.created_at).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    relay = session.scalars(stmt).first()
    if relay is not None:
        relay.tenant_id = tenant.id
        log.info("relay_assigned", tenant=tenant.id, relay=relay.id)
    else:
        log.warning("relay_pool_empty", tenant=tenant.id)
    return tenant


def tenant_relay(session: Session, tenant_id: str) -> Relay | None:
    return session.scalars(select(Relay).where(Relay.tenant_id == tenant_id)).first()


def client_address(request: Request, trusted_proxies: int) -> str:
    if trusted_proxies:
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies]
    return request.client.host if request.client else "unknown"


def check_rate_limit(cloud: Cloud, session: Session, email: str, address: str) -> list[str]:
    """Raise 429 when the account or the address has too many recent failures; return the keys."""
    auth = cloud.settings.auth
    since = utcnow() - timedelta(seconds=auth.login_window_seconds)
    keys = [security.hashed_key(cloud.secret, "email", email), security.hashed_key(cloud.secret, "ip", address)]
    limits = [auth.login_max_failures, auth.login_max_failures_per_ip]
    for key, limit in zip(keys, limits, strict=True):
        count = session.scalar(select(func.count()).select_from(LoginFailure).where(LoginFailure.key == key, LoginFailure.at >= since))
        if (count or 0) >= limit:
            cloud.metrics.logins.labels("password", "limited").inc()
            raise TooMany(
                "too many failed logins; try again later", headers={"Retry-After": str(auth.login_window_seconds)}
            )
    return keys


def record_failure(session: Session, keys: list[str]) -> None:
    now = utcnow()
    session.add_all([LoginFailure(key=key, at=now) for key in keys])


def clear_failures(session: Session, account_key: str) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.key == account_key))


def start_session(cloud: Cloud, session: Session, user: User, response: Response, family: str | None = None) -> TokenPublic:
    """Issue an access token and a refresh token; set both as HTTP-only cookies."""
    settings = cloud.settings.auth
    access, expires = security.make_access_token(
        cloud.secret, user_id=user.id, token_version=user.token_version, minutes=settings.access_token_minutes
    )
    refresh, refresh_hash = security.new_refresh_token()
    refresh_expires = utcnow() + timedelta(days=settings.refresh_token_days)
    session.add(
        RefreshSession(user_id=user.id, family=family or secrets.token_hex(16), token_hash=refresh_hash, expires_at=refresh_expires)
    )
    max_age = settings.access_token_minutes * 60
    response.set_cookie(
        ACCESS_COOKIE, access, max_age=max_age, httponly=True, secure=settings.cookie_secure, samesite="strict", path="/"
    )
    response.set_cookie(
        REFRESH_COOKIE,
        refresh,
        max_age=settings.refresh_token_days * 86400,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
        path=REFRESH_PATH,
    )
    return TokenPublic(access_token=access, expires_in=max_age)


def clear_cookies(cloud: Cloud, response: Response) -> None:
    secure = cloud.settings.auth.cookie_secure
    response.delete_cookie(ACCESS_COOKIE, path="/", secure=secure, httponly=True, samesite="strict")
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH, secure=secure, httponly=True, samesite="strict")


def rotate_refresh(cloud: Cloud, session: Session, token: str | None, response: Response) -> TokenPublic:
    """Exchange a refresh token for new tokens. Reusing a rotated token revokes its whole family."""
    if not token:
        raise Unauthorized("no refresh token")
    now = utcnow()
    row = session.scalars(select(RefreshSession).where(RefreshSession.token_hash == security.hash_token(token))).first()
    if row is None or row.expires_at <= now:
        raise Unauthorized("refresh token invalid or expired")
    if row.revoked_at is not None:
        session.execute(
            update(RefreshSession).where(RefreshSession.family == row.family, RefreshSession.revoked_at.is_(None)).values(revoked_at=now)
        )
        session.commit()
        log.warning("refresh_token_reuse", user=row.user_id)
        raise Unauthorized("refresh token already used; sessions of this login ended")
    user = session.get(User, row.user_id)
    if user is None:
        raise Unauthorized("refresh token invalid or expired")
    row.revoked_at = now
    return start_session(cloud, session, user, response, family=row.family)


def end_session(session: Session, token: str | None) -> None:
    if not token:
        return
    row = session.scalars(select(RefreshSession).where(RefreshSession.token_hash == security.hash_token(token))).first()
    if row is not None:
        session.execute(
            update(RefreshSession).where(RefreshSession.family == row.family, RefreshSession.revoked_at.is_(None)).values(revoked_at=utcnow())
        )


def revoke_all(session: Session, user: User) -> None:
    """After a password change: old access tokens (token_version) and refresh tokens stop working."""
    user.token_version += 1
    session.execute(
        update(RefreshSession).where(RefreshSession.user_id == user.id, RefreshSession.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
