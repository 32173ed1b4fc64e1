"""Sign-up, login, refresh, logout (local accounts) and OpenID Connect login."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Cookie, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from cloud.api.cookies import clear_cookies, session_hint_deletion, set_session_cookies
from cloud.api.deps import CloudDep, SessionDep
from cloud.api.params import CONTROL_CHARACTERS, Text
from cloud.api.schemas import (
    AuthProviders,
    ErrorResponse,
    LoginCreate,
    OidcProviderPublic,
    SignupCreate,
    TokenPublic,
)
from cloud.core import security
from cloud.core.db import utcnow
from cloud.core.errors import ApiError, Conflict, Forbidden, NotFound, Unauthorized
from cloud.core.oidc import OidcClient, OidcError
from cloud.services import accounts
from cloud.tables import OidcLogin, User
from guardian.runtime.logging import get_logger

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
log = get_logger("cloud.auth")

STATE_COOKIE = "guardian_oidc_state"
_OIDC_LOGIN_SECONDS = 600


def client_address(request: Request, trusted_proxies: int) -> str:
    """The client's address for the password rate limit: the n-th hop from the right behind n trusted proxies."""
    if trusted_proxies:
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies]
    return request.client.host if request.client else "unknown"


@router.post(
    "/signup", status_code=status.HTTP_201_CREATED, response_model=TokenPublic,
    responses={409: {"model": ErrorResponse, "description": "`email_taken`"},
               422: {"model": ErrorResponse, "description": "`invalid_request`, or `weak_password`: the password is "
                     "too easy to guess (zxcvbn score below 3; the message carries its advice)."},
               429: {"model": ErrorResponse, "description": "`rate_limited`: too many sign-ups from this address, or "
                     "from everywhere, within the window (see `Retry-After`)."}},
)
def signup(body: SignupCreate, request: Request, response: Response, cloud: CloudDep, session: SessionDep) -> TokenPublic:
    """Create a local account and its tenant (the account becomes the tenant's admin). The tenant gets a relay
    when it adds its first device (``POST /bootstrap-tokens``), not here."""
    if not cloud.settings.auth.allow_signup:
        raise Forbidden("sign-up is disabled")
    keys = accounts.check_signup_rate(cloud, session, client_address(request, cloud.settings.http.trusted_proxy_count))
    email = body.email.lower()
    accounts.check_password_strength(body.password, email=email, tenant_name=body.tenant_name)
    if session.scalars(select(User.id).where(User.email == email)).first() is not None:
        raise Conflict("an account with this e-mail exists", code="email_taken")
    tenant = accounts.create_tenant(session, body.tenant_name)
    user = User(email=email, password_hash=security.hash_password(body.password), tenant_id=tenant.id, role="admin")
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("an account with this e-mail exists", code="email_taken") from None
    accounts.record_failure(session, keys)  # the throttle's records: a sign-up counts like a failed login
    log.info("signup", tenant=tenant.id, user=user.id)
    return set_session_cookies(cloud, response, accounts.start_session(cloud, session, user))


@router.post(
    "/login", response_model=TokenPublic,
    responses={429: {"model": ErrorResponse, "description": "`rate_limited`: too many wrong passwords for this account "
                     "from this address, or from this address (see `Retry-After`); the account is not locked."}},
)
def login(body: LoginCreate, request: Request, response: Response, cloud: CloudDep, session: SessionDep) -> TokenPublic:
    """Password login; sets the access and refresh cookies and also returns the access token."""
    email = body.email.lower()
    address = client_address(request, cloud.settings.http.trusted_proxy_count)
    keys = accounts.check_rate_limit(cloud, session, email, address)
    user = session.scalars(select(User).where(User.email == email)).first()
    if not security.verify_password(user.password_hash if user else None, body.password) or user is None:
        accounts.record_failure(session, keys)
        session.commit()
        cloud.metrics.logins.labels("password", "failed").inc()
        raise Unauthorized("wrong e-mail or password", code="bad_credentials")
    if user.password_hash and security.needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(body.password)
    accounts.clear_failures(session, keys[0])
    cloud.metrics.logins.labels("password", "ok").inc()
    return set_session_cookies(cloud, response, accounts.start_session(cloud, session, user))


@router.post("/refresh", response_model=TokenPublic)
def refresh(
    response: Response,
    cloud: CloudDep,
    session: SessionDep,
    guardian_refresh: Annotated[str | None, Cookie()] = None,
) -> TokenPublic:
    """Rotate the refresh cookie and issue a new access token. Refused (401): the session hint cookie is
    cleared too, so the page stops probing for a session."""
    try:
        issued = accounts.rotate_refresh(cloud, session, guardian_refresh)
    except Unauthorized as exc:
        exc.headers["set-cookie"] = session_hint_deletion(cloud)
        raise
    return set_session_cookies(cloud, response, issued)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(cloud: CloudDep, session: SessionDep, guardian_refresh: Annotated[str | None, Cookie()] = None) -> Response:
    """End this login: the refresh token (and its rotations) stop working and the cookies are cleared."""
    accounts.end_session(session, guardian_refresh)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_cookies(cloud, response)
    return response


@router.get("/providers", response_model=AuthProviders)
def providers(cloud: CloudDep) -> AuthProviders:
    """How one can sign in here, for the login page: answered from the settings alone (it neither
    contacts the OpenID Connect provider nor starts a login, unlike ``GET /auth/oidc/login``)."""
    oidc = cloud.settings.oidc
    provider = None
    if oidc.enabled:
        name = oidc.display_name or urlsplit(oidc.issuer).hostname or "single sign-on"
        provider = OidcProviderPublic(name=name, login_url=f"{router.prefix}/oidc/login")
    return AuthProviders(password=True, signup=cloud.settings.auth.allow_signup, oidc=provider)


def _oidc(cloud: CloudDep) -> OidcClient:
    client = cloud.oidc
    if client is None:
        raise NotFound("OpenID Connect login is not configured")
    return client


@router.get("/oidc/login", status_code=status.HTTP_302_FOUND, response_class=RedirectResponse)
def oidc_login(cloud: CloudDep, session: SessionDep) -> RedirectResponse:
    """Start an OpenID Connect login: redirect to the provider (authorization code + PKCE)."""
    client = _oidc(cloud)
    auth = client.authorization_request()
    session.execute(delete(OidcLogin).where(OidcLogin.created_at < utcnow() - timedelta(seconds=_OIDC_LOGIN_SECONDS)))
    session.add(OidcLogin(state=auth.state, code_verifier=auth.code_verifier, nonce=auth.nonce))
    response = RedirectResponse(auth.url, status_code=status.HTTP_302_FOUND)
    # Binds the login to this browser; Lax so it comes back on the provider's top-level redirect.
    response.set_cookie(
        STATE_COOKIE, auth.state, max_age=_OIDC_LOGIN_SECONDS, httponly=True,
        secure=cloud.settings.auth.cookie_secure, samesite="lax", path="/api/v1/auth/oidc",
    )
    return response


@router.get("/oidc/callback", status_code=status.HTTP_303_SEE_OTHER, response_class=RedirectResponse)
def oidc_callback(
    cloud: CloudDep,
    session: SessionDep,
    state: Annotated[Text, Query(max_length=128)] = "",
    code: Annotated[Text, Query(max_length=2048)] = "",
    error: Annotated[Text | None, Query(max_length=200)] = None,
    guardian_oidc_state: Annotated[str | None, Cookie()] = None,
) -> RedirectResponse:
    """The provider's redirect back: check state, exchange the code, validate the id_token, sign in."""
    client = _oidc(cloud)
    if error:
        raise OidcError("the provider refused the login", code="oidc_denied")
    if not state or not code or guardian_oidc_state != state:
        raise OidcError("login state missing or not from this browser", code="oidc_state")
    pending = session.get(OidcLogin, state)
    if pending is None or pending.created_at < utcnow() - timedelta(seconds=_OIDC_LOGIN_SECONDS):
        raise OidcError("login expired or already used", code="oidc_state")
    session.delete(pending)
    session.commit()  # single use even if what follows fails
    try:
        claims = client.validate_id_token(client.exchange(code, pending.code_verifier), pending.nonce)
    except ApiError:
        cloud.metrics.logins.labels("oidc", "failed").inc()
        raise
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    if any(CONTROL_CHARACTERS.search(str(claims.get(name) or "")) for name in ("iss", "sub", "email")):
        # Unusable as an identity, and PostgreSQL refuses NUL in text (a 500 otherwise).
        cloud.metrics.logins.labels("oidc", "failed").inc()
        raise OidcError("the provider's identity contains control characters", code="oidc_claims")
    user = session.scalars(select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)).first()
    if user is None:
        email = str(claims.get("email") or f"{subject}@{issuer.split('//')[-1].split('/')[0]}").lower()[:320]
        if session.scalars(select(User.id).where(User.email == email)).first() is not None:
            # Linking by e-mail would let any provider take over a local account.
            raise Conflict("an account with this e-mail exists; sign in with its password", code="email_taken")
        tenant = accounts.create_tenant(session, "Home")
        user = User(email=email, oidc_issuer=issuer, oidc_subject=subject, tenant_id=tenant.id, role="admin")
        session.add(user)
        session.flush()
        log.info("oidc_user_created", tenant=tenant.id, user=user.id)
    cloud.metrics.logins.labels("oidc", "ok").inc()
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookies(cloud, response, accounts.start_session(cloud, session, user))
    response.delete_cookie(STATE_COOKIE, path="/api/v1/auth/oidc")
    return response
