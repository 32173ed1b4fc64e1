"""The login cookies: where the API puts the tokens that :mod:`cloud.services.accounts` issues.

Besides the two HTTP-only token cookies, :data:`SESSION_HINT_COOKIE` (``guardian_session=1``) is one the
page can read: it holds no secret and proves nothing (the API never looks at it), it only tells the UI
that a session may exist, so a signed-out page load shows the login without probing ``/users/me`` and
``/auth/refresh`` (two 401s in the console). It lives as long as the refresh token and is cleared on
logout and when the refresh token is refused.
"""

from __future__ import annotations

from fastapi import Response

from cloud.api.schemas import TokenPublic
from cloud.core.state import Cloud
from cloud.services.accounts import IssuedSession

ACCESS_COOKIE = "guardian_access"
REFRESH_COOKIE = "guardian_refresh"
REFRESH_PATH = "/api/v1/auth"
SESSION_HINT_COOKIE = "guardian_session"


def set_session_cookies(cloud: Cloud, response: Response, issued: IssuedSession) -> TokenPublic:
    """Set both tokens as HTTP-only cookies; the access token is also the body (API clients)."""
    secure = cloud.settings.auth.cookie_secure
    response.set_cookie(
        ACCESS_COOKIE, issued.access_token, max_age=issued.access_max_age, httponly=True, secure=secure,
        samesite="strict", path="/",
    )
    response.set_cookie(
        REFRESH_COOKIE, issued.refresh_token, max_age=issued.refresh_max_age, httponly=True, secure=secure,
        samesite="strict", path=REFRESH_PATH,
    )
    response.set_cookie(
        SESSION_HINT_COOKIE, "1", max_age=issued.refresh_max_age, httponly=False, secure=secure, samesite="strict",
        path="/",
    )
    return TokenPublic(access_token=issued.access_token, expires_in=issued.access_max_age)


def clear_cookies(cloud: Cloud, response: Response) -> None:
    secure = cloud.settings.auth.cookie_secure
    response.delete_cookie(ACCESS_COOKIE, path="/", secure=secure, httponly=True, samesite="strict")
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH, secure=secure, httponly=True, samesite="strict")
    response.delete_cookie(SESSION_HINT_COOKIE, path="/", secure=secure, httponly=False, samesite="strict")


def session_hint_deletion(cloud: Cloud) -> str:
    """A ``Set-Cookie`` value clearing the session hint, for an error answer (refresh refused)."""
    response = Response()
    response.delete_cookie(SESSION_HINT_COOKIE, path="/", secure=cloud.settings.auth.cookie_secure, httponly=False,
                           samesite="strict")
    return response.headers["set-cookie"]
