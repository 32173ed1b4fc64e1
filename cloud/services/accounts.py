"""Account logic shared by password and OIDC logins: tenants on sign-up, relay assignment, sessions,
the password policy and the throttling of wrong passwords.

Tokens are returned, not set: the API layer puts them in cookies (:mod:`cloud.api.cookies`).

Password policy (:func:`check_password_strength`): at least 12 characters (the request schemas) and a
zxcvbn score of at least :data:`MIN_PASSWORD_SCORE` (3 of 0–4: "safely unguessable", an estimated 10^8
guesses or more), judged with the account's e-mail and the home's name as words an attacker would try first.
Common passwords (``password1234``), keyboard walks, repeats, dates and the e-mail itself score lower and
are refused with zxcvbn's feedback.

Throttling of wrong passwords (:func:`check_rate_limit`): failures are counted per (account, client
address) and per client address within ``auth.login_window_seconds``; past ``auth.login_max_failures``
for one account from one address, or ``auth.login_max_failures_per_ip`` from one address, that source
gets 429 with ``Retry-After``. The account itself is never locked: someone guessing from elsewhere cannot
lock its owner out. A guesser spreading over many addresses gets ``login_max_failures`` tries per address
per window, which the policy above makes hopeless. Changing the password with a wrong current password
counts the same way.

Sign-up and the relay pool (:func:`check_signup_rate`, :func:`assign_relay`): sign-up needs no proof of
anything, so it must not cost anything scarce. A new tenant holds no relay; it takes one from the pool
when its first device is added (the first bootstrap token, which names the relay the device enrols
with), so sign-ups alone cannot drain the pool. An empty pool is a clear 503 ``relay_pool_empty`` at that
point. Sign-ups are also throttled, with the same records as failed logins: ``auth.signup_max_per_ip`` per
client address and ``auth.signup_max_total`` from everywhere within ``auth.signup_window_seconds``, then
429 with ``Retry-After``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from cloud.core import security
from cloud.core.db import utcnow
from cloud.core.errors import ApiError, TooMany, Unauthorized
from cloud.core.live import Login
from cloud.core.state import Cloud
from cloud.tables import LoginFailure, RefreshSession, Relay, Tenant, User
from guardian.runtime.logging import get_logger

log = get_logger("cloud.accounts")


@dataclass(frozen=True)
class IssuedSession:
    """A new login's tokens and how long each lives, in seconds."""

    access_token: str
    access_max_age: int
    refresh_token: str
    refresh_max_age: int


def create_tenant(session: Session, name: str) -> Tenant:
    """A new tenant on the Free plan. It holds no relay until its first device is added (:func:`assign_relay`)."""
    tenant = Tenant(name=name, plan="free")
    session.add(tenant)
    session.flush()
    return tenant


def tenant_relay(session: Session, tenant_id: str) -> Relay | None:
    return session.scalars(select(Relay).where(Relay.tenant_id == tenant_id)).first()


class RelayPoolEmpty(ApiError):
    status = 503
    code = "relay_pool_empty"


def assign_relay(session: Session, tenant: Tenant) -> Relay:
    """The tenant's relay, taking a free one from the pool the first time (503 ``relay_pool_empty`` if none)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # Two first devices added at once must not take two relays: serialise on the tenant's row.
        session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
    relay = tenant_relay(session, tenant.id)
    if relay is not None:
        return relay
    stmt = select(Relay).where(Relay.tenant_id.is_(None), Relay.enabled.is_(True)).order_by(Relay.created_at).limit(1)
    if postgres:
        stmt = stmt.with_for_update(skip_locked=True)
    relay = session.scalars(stmt).first()
    if relay is None:
        log.warning("relay_pool_empty", tenant=tenant.id)
        raise RelayPoolEmpty(
            "no relay is free for your home yet; the operator has been told. Try adding the device again later.",
            headers={"Retry-After": "3600"},
        )
    relay.tenant_id = tenant.id
    session.flush()
    log.info("relay_assigned", tenant=tenant.id, relay=relay.id)
    return relay


def check_signup_rate(cloud: Cloud, session: Session, address: str) -> list[str]:
    """Raise 429 when this address, or everyone together, signed up too often within the window.

    Returns the keys to record the sign-up under (:func:`record_failure` stores them).
    """
    auth = cloud.settings.auth
    now = utcnow()
    since = now - timedelta(seconds=auth.signup_window_seconds)
    keys = [security.hashed_key(cloud.secret, "signup-ip", address), security.hashed_key(cloud.secret, "signup", "all")]
    for key, limit in zip(keys, [auth.signup_max_per_ip, auth.signup_max_total], strict=True):
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(LoginFailure.key == key, LoginFailure.at >= since)
        ).one()
        if (count or 0) >= limit:
            # The window slides: a place frees up when the oldest sign-up in it leaves.
            wait = auth.signup_window_seconds - int((now - oldest).total_seconds()) if oldest else auth.signup_window_seconds
            log.warning("signup_limited", scope="address" if key == keys[0] else "all")
            raise TooMany("too many sign-ups; try again later", headers={"Retry-After": str(max(1, wait))})
    return keys


MIN_PASSWORD_SCORE = 3
# zxcvbn's own limit: a longer password is judged by its first 72 characters (the rest only adds to it).
_ZXCVBN_MAX_LENGTH = 72


class WeakPassword(ApiError):
    status = 422
    code = "weak_password"


def check_password_strength(password: str, *, email: str, tenant_name: str | None = None) -> None:
    """Refuse (422 ``weak_password``, with zxcvbn's advice) a password scoring below MIN_PASSWORD_SCORE."""
    from zxcvbn import zxcvbn

    local, _, domain = email.lower().partition("@")
    words = [email.lower(), local, *domain.split(".")]
    if tenant_name:
        name = tenant_name.lower()
        words += [name, "".join(name.split()), *name.split()]
    result = zxcvbn(password[:_ZXCVBN_MAX_LENGTH], user_inputs=[w for w in words if w])
    if result["score"] >= MIN_PASSWORD_SCORE:
        return
    feedback = result.get("feedback") or {}
    advice = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
    text = " ".join(a.strip() for a in advice if a and a.strip()) or "Add another word or two. Uncommon words are better."
    raise WeakPassword(f"password is too easy to guess. {text}")


def check_rate_limit(cloud: Cloud, session: Session, email: str, address: str) -> list[str]:
    """Raise 429 when this account from this address, or this address, has too many recent failures.

    Returns the keys to record a failure under: (account, address) first, then the address.
    """
    auth = cloud.settings.auth
    since = utcnow() - timedelta(seconds=auth.login_window_seconds)
    keys = [security.hashed_key(cloud.secret, "email-ip", f"{email}\n{address}"),
            security.hashed_key(cloud.secret, "ip", address)]
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


def start_session(cloud: Cloud, session: Session, user: User, family: str | None = None) -> IssuedSession:
    """Issue an access token and a refresh token (stored hashed, in ``family`` when rotating)."""
    settings = cloud.settings.auth
    family = family or secrets.token_hex(16)
    access, _expires = security.make_access_token(
        cloud.secret, user_id=user.id, token_version=user.token_version, minutes=settings.access_token_minutes,
        session_id=family,
    )
    refresh, refresh_hash = security.new_refresh_token()
    refresh_expires = utcnow() + timedelta(days=settings.refresh_token_days)
    session.add(RefreshSession(user_id=user.id, family=family, token_hash=refresh_hash, expires_at=refresh_expires))
    return IssuedSession(
        access_token=access,
        access_max_age=settings.access_token_minutes * 60,
        refresh_token=refresh,
        refresh_max_age=settings.refresh_token_days * 86400,
    )


def rotate_refresh(cloud: Cloud, session: Session, token: str | None) -> IssuedSession:
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
    return start_session(cloud, session, user, family=row.family)


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


def session_alive(session: Session, claims: dict[str, object], tenant_id: str) -> bool:
    """Whether the login an access token belongs to still holds (see :func:`logins_alive`)."""
    login = Login(str(claims.get("sub")), claims.get("ver"), None if claims.get("sid") is None else str(claims["sid"]),
                  tenant_id)
    return bool(logins_alive(session, {login}))


def logins_alive(session: Session, logins: set[Login]) -> set[Login]:
    """Which logins still hold, in one query: the account exists in the login's tenant with the token's
    version (no password change, not removed), and its login (``sid``, the refresh family) has a refresh
    token neither revoked (logout, reuse) nor expired. Expiry of the access token itself is the caller's to
    check."""
    if not logins:
        return set()
    families = {login.family for login in logins if login.family is not None}
    live_family = (RefreshSession.user_id == User.id) & RefreshSession.family.in_(families) & (
        RefreshSession.revoked_at.is_(None)) & (RefreshSession.expires_at > utcnow())
    rows = session.execute(
        select(User.id, User.tenant_id, User.token_version, RefreshSession.family)
        .outerjoin(RefreshSession, live_family)
        .where(User.id.in_({login.user_id for login in logins}))
    ).all()
    accounts = {user_id: (tenant_id, version) for user_id, tenant_id, version, _family in rows}
    live = {(user_id, family) for user_id, _tenant_id, _version, family in rows if family is not None}
    return {
        login for login in logins
        if accounts.get(login.user_id) == (login.tenant_id, login.version)
        # a token minted without a login (tools, benchmarks): bounded by its expiry alone
        and (login.family is None or (login.user_id, login.family) in live)
    }
