"""Local accounts: sign-up, login, refresh, logout, wrong password, rate limit, password change."""

from __future__ import annotations

from cloud.api.main import create_app
from tests.cloud.conftest import add_relay, login, make_settings, signup, test_client


def test_signup_creates_tenant_with_relay_and_admin(client, app) -> None:
    relay = add_relay(app, "relay-1")
    member = signup(client, "alice@home.example.org", tenant="Alice's home")
    tenant = client.get("/api/v1/tenant", headers=member.auth).json()
    assert tenant["name"] == "Alice's home"
    assert tenant["relay_id"] == relay.id and tenant["relay_url"] == relay.endpoint
    me = client.get("/api/v1/users/me", headers=member.auth).json()
    assert me["role"] == "admin" and me["email"] == "alice@home.example.org"
    # The same e-mail cannot sign up twice.
    again = client.post("/api/v1/auth/signup", json={"email": "Alice@home.example.org", "password": "x" * 12 + "yz",
                                                     "tenant_name": "x"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "email_taken"


def test_login_cookies_refresh_logout(client) -> None:
    signup(client, "bob@home.example.org", "bob's long password")
    response = client.post("/api/v1/auth/login", json={"email": "bob@home.example.org", "password": "bob's long password"})
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    access_cookie = next(c for c in cookies if c.startswith("guardian_access="))
    refresh_cookie = next(c for c in cookies if c.startswith("guardian_refresh="))
    for cookie in (access_cookie, refresh_cookie):
        assert "HttpOnly" in cookie and "Secure" in cookie and "samesite=strict" in cookie.lower()
    assert "Path=/api/v1/auth" in refresh_cookie
    # The browser's cookie alone authenticates.
    assert client.get("/api/v1/users/me").status_code == 200
    old_refresh = client.cookies.get("guardian_refresh")

    refreshed = client.post("/api/v1/auth/refresh")
    assert refreshed.status_code == 200
    new_token = refreshed.json()["access_token"]
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {new_token}"}).status_code == 200
    assert client.cookies.get("guardian_refresh") != old_refresh

    # Reusing a rotated refresh token is refused and ends that login's family.
    current = client.cookies.get("guardian_refresh")
    reuse = client.post("/api/v1/auth/refresh", cookies={"guardian_refresh": old_refresh})
    assert reuse.status_code == 401
    client.cookies.clear()
    assert client.post("/api/v1/auth/refresh", cookies={"guardian_refresh": current}).status_code == 401

    # Log in again, log out: refresh stops working and cookies are cleared.
    client.post("/api/v1/auth/login", json={"email": "bob@home.example.org", "password": "bob's long password"})
    refresh_token = client.cookies.get("guardian_refresh")
    out = client.post("/api/v1/auth/logout")
    assert out.status_code == 204
    assert any(c.startswith("guardian_access=") and "Max-Age=0" in c for c in out.headers.get_list("set-cookie"))
    client.cookies.clear()
    assert client.post("/api/v1/auth/refresh", cookies={"guardian_refresh": refresh_token}).status_code == 401
    assert client.get("/api/v1/users/me").status_code == 401


def test_wrong_password_and_unknown_account(client) -> None:
    signup(client, "carol@home.example.org", "carol's long password")
    for email, password in (("carol@home.example.org", "not her password"), ("nobody@home.example.org", "whatever1234")):
        response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 401
        assert response.json() == {"error": {"code": "bad_credentials", "message": "wrong e-mail or password"}}
        assert "set-cookie" not in response.headers


def test_login_rate_limit(db_url, signing_key) -> None:
    app = create_app(make_settings(db_url, signing_key, auth={"login_max_failures": 3}))
    with test_client(app) as client:
        signup(client, "dave@home.example.org", "dave's long password")
        for _ in range(3):
            assert client.post("/api/v1/auth/login", json={"email": "dave@home.example.org", "password": "guess-guess"}).status_code == 401
        limited = client.post("/api/v1/auth/login", json={"email": "dave@home.example.org", "password": "dave's long password"})
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) > 0
        # Another account from elsewhere is not affected.
        signup(client, "erin@home.example.org", "erin's long password")
        assert login(client, "erin@home.example.org", "erin's long password")


def test_password_change_ends_other_sessions(client) -> None:
    member = signup(client, "frank@home.example.org", "frank's long password")
    other = client.post("/api/v1/auth/login", json={"email": member.email, "password": member.password})
    other_refresh = client.cookies.get("guardian_refresh")
    client.cookies.clear()
    wrong = client.post("/api/v1/users/me/password", headers=member.auth,
                        json={"current_password": "nope", "new_password": "a brand new password"})
    assert wrong.status_code == 401
    changed = client.post("/api/v1/users/me/password", headers=member.auth,
                          json={"current_password": member.password, "new_password": "a brand new password"})
    assert changed.status_code == 200
    client.cookies.clear()
    # Tokens issued before the change no longer work; the new one does.
    assert client.get("/api/v1/users/me", headers=member.auth).status_code == 401
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {other.json()['access_token']}"}).status_code == 401
    assert client.post("/api/v1/auth/refresh", cookies={"guardian_refresh": other_refresh}).status_code == 401
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {changed.json()['access_token']}"}).status_code == 200
    assert client.post("/api/v1/auth/login", json={"email": member.email, "password": member.password}).status_code == 401
    assert login(client, member.email, "a brand new password")


def test_weak_input_is_refused_with_error_body(client) -> None:
    response = client.post("/api/v1/auth/signup", json={"email": "not-an-email", "password": "short", "tenant_name": ""})
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "invalid_request"
    assert {d["field"] for d in body["details"]} >= {"body.email", "body.password", "body.tenant_name"}


def test_signup_answer_authenticates_at_once(app) -> None:
    """The tokens sign-up answers with work for the very next request, without a refresh: the new
    account is committed before the answer leaves (the session dependency ends before the response)."""
    visible_at_response: list[bool] = []

    async def watch(scope, receive, send):  # type: ignore[no-untyped-def]
        async def observe(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start" and scope["path"] == "/api/v1/auth/signup":
                # What another request (another connection) would see the moment the answer starts.
                from sqlalchemy import select

                from cloud.models import User
                with app.state.cloud.sessions() as other:
                    found = other.scalars(select(User.id).where(User.email == "grace@home.example.org")).first()
                visible_at_response.append(found is not None)
            await send(message)
        await app(scope, receive, observe)

    with test_client(watch) as client:
        response = client.post("/api/v1/auth/signup", json={"email": "grace@home.example.org",
                                                            "password": "grace's long password", "tenant_name": "Home"})
        assert response.status_code == 201, response.text
        assert visible_at_response == [True]
        # The cookies it set authenticate, as does the bearer token it returned.
        me = client.get("/api/v1/users/me")
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "grace@home.example.org"
        client.cookies.clear()
        token = response.json()["access_token"]
        assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
