"""The signed-in account: who am I, change password."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from cloud.api.deps import CloudDep, CurrentUser, SessionDep
from cloud.core import accounts, security
from cloud.core.errors import Forbidden, Unauthorized
from cloud.models import PasswordUpdate, TokenPublic, UserPublic

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.post("/me/password", response_model=TokenPublic)
def change_password(
    body: PasswordUpdate, user: CurrentUser, response: Response, cloud: CloudDep, session: SessionDep
) -> TokenPublic:
    """Change the password; every other session of this account ends, this one gets new tokens."""
    if user.password_hash is None:
        raise Forbidden("this account signs in through its identity provider", code="no_password")
    if not security.verify_password(user.password_hash, body.current_password):
        raise Unauthorized("current password is wrong", code="bad_credentials")
    user.password_hash = security.hash_password(body.new_password)
    accounts.revoke_all(session, user)
    session.flush()
    response.status_code = status.HTTP_200_OK
    return accounts.start_session(cloud, session, user, response)
