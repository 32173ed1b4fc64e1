"""The signed-in account: who am I, change password."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from cloud.api.cookies import set_session_cookies
from cloud.api.deps import CloudDep, CurrentUser, SessionDep
from cloud.api.routes.auth import client_address
from cloud.api.schemas import ErrorResponse, PasswordUpdate, TokenPublic, UserPublic
from cloud.core import security
from cloud.core.errors import Forbidden
from cloud.services import accounts
from cloud.tables import Tenant

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.post(
    "/me/password", response_model=TokenPublic,
    responses={
        403: {"model": ErrorResponse, "description": "`bad_credentials`: the current password is wrong (the session "
              "stays valid: this is not 401), or `no_password`: the account signs in through its identity provider."},
        422: {"model": ErrorResponse, "description": "`invalid_request`, or `weak_password`: the new password is too "
              "easy to guess (zxcvbn score below 3; the message carries its advice)."},
        429: {"model": ErrorResponse, "description": "`rate_limited`: too many wrong current passwords (as for login)."},
    },
)
def change_password(
    body: PasswordUpdate, user: CurrentUser, request: Request, response: Response, cloud: CloudDep,
    session: SessionDep,
) -> TokenPublic:
    """Change the password; every other session of this account ends, this one gets new tokens.

    A wrong current password answers 403 ``bad_credentials``, not 401: the caller is signed in, and a
    client treats 401 as the end of its session. Wrong current passwords are throttled like logins.
    """
    if user.password_hash is None:
        raise Forbidden("this account signs in through its identity provider", code="no_password")
    keys = accounts.check_rate_limit(cloud, session, user.email, client_address(request, cloud.settings.http.trusted_proxy_count))
    if not security.verify_password(user.password_hash, body.current_password):
        accounts.record_failure(session, keys)
        session.commit()
        raise Forbidden("current password is wrong", code="bad_credentials")
    tenant = session.get(Tenant, user.tenant_id) if user.tenant_id else None
    accounts.check_password_strength(body.new_password, email=user.email, tenant_name=tenant.name if tenant else None)
    accounts.clear_failures(session, keys[0])
    user.password_hash = security.hash_password(body.new_password)
    accounts.revoke_all(session, user)
    session.flush()
    response.status_code = status.HTTP_200_OK
    return set_session_cookies(cloud, response, accounts.start_session(cloud, session, user))
