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
    again = client.post("/api/v1/auth/signup", json={"email": "Alice@home.example.org", "password": "another long password",
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
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "bad_credentials"
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

    async def watch(scope, receive, send):
        async def observe(message):
            if message["type"] == "http.response.start" and scope["path"] == "/api/v1/auth/signup":
                # What another request (another connection) would see the moment the answer starts.
                from sqlalchemy import select

                from cloud.tables import User
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


def test_guessable_passwords_are_refused(client) -> None:
    """Length alone is not enough: common and guessable passwords (zxcvbn score below 3, with the e-mail
    and the home's name as words an attacker tries first) are refused with zxcvbn's advice."""
    for password, email, tenant in (
        ("password1234", "henry@home.example.org", "Home"),
        ("qwertyuiop123", "henry@home.example.org", "Home"),
        ("henry@home.example.org", "henry@home.example.org", "Home"),
        ("Henryhome2024", "henry@home.example.org", "Henry home"),
        ("Sunnyside2024", "henry@home.example.org", "Sunnyside"),
        ("aaaaaaaaaaaaaaaa", "henry@home.example.org", "Home"),
    ):
        r = client.post("/api/v1/auth/signup", json={"email": email, "password": password, "tenant_name": tenant})
        assert r.status_code == 422, (password, r.text)
        error = r.json()["error"]
        assert error["code"] == "weak_password", error
        assert error["message"].startswith("password is too easy to guess. ") and len(error["message"]) > 40
    assert "very common password" in client.post("/api/v1/auth/signup", json={
        "email": "henry@home.example.org", "password": "password1234", "tenant_name": "Home"}).json()["error"]["message"]
    # Nothing was created; a passphrase is fine.
    member = signup(client, "henry@home.example.org", "staple orbit kettle lantern", tenant="Sunnyside")
    # The same policy for new members and for a new password.
    r = client.post("/api/v1/tenant/members", headers=member.auth,
                    json={"email": "ivy@home.example.org", "password": "Sunnyside123", "role": "viewer"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "weak_password"
    r = client.post("/api/v1/users/me/password", headers=member.auth,
                    json={"current_password": member.password, "new_password": "password12345"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "weak_password"
    assert login(client, member.email, member.password)  # unchanged


def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(db_url, signing_key) -> None:
    """Throttled per (account, client address) and per address, never per account alone: five wrong
    passwords from an attacker's address do not stop the owner signing in from theirs."""
    app = create_app(make_settings(db_url, signing_key, auth={"login_max_failures": 5, "login_max_failures_per_ip": 8},
                                   http={"trusted_proxy_count": 1}))
    with test_client(app) as client:
        owner = signup(client, "judy@home.example.org", "judy's long password")
        signup(client, "kim@home.example.org", "kim's long password")

        def attempt(address: str, password: str, email: str = owner.email):
            r = client.post("/api/v1/auth/login", json={"email": email, "password": password},
                            headers={"X-Forwarded-For": address})
            client.cookies.clear()
            return r

        for _ in range(5):
            assert attempt("203.0.113.66", "guess-guess-guess").status_code == 401
        limited = attempt("203.0.113.66", owner.password)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        # The owner, from home: not locked out.
        assert attempt("198.51.100.7", owner.password).status_code == 200
        # One address trying many accounts is still capped (per address).
        for _ in range(3):
            assert attempt("203.0.113.66", "guess-guess-guess", "kim@home.example.org").status_code == 401
        assert attempt("203.0.113.66", "kim's long password", "kim@home.example.org").status_code == 429
        assert attempt("198.51.100.8", "kim's long password", "kim@home.example.org").status_code == 200


def test_wrong_current_password_keeps_the_session(client) -> None:
    """Changing the password with a wrong current password answers 403 (not 401, which a client takes for
    an ended session), the session keeps working, and the wrong guesses are throttled like logins."""
    member = signup(client, "lena@home.example.org", "lena's long password")
    for _ in range(5):
        r = client.post("/api/v1/users/me/password", headers=member.auth,
                        json={"current_password": "not my password", "new_password": "a brand new password"})
        assert r.status_code == 403, r.text
        assert r.json()["error"] == {"code": "bad_credentials", "message": "current password is wrong"}
        assert client.get("/api/v1/users/me", headers=member.auth).status_code == 200
    r = client.post("/api/v1/users/me/password", headers=member.auth,
                    json={"current_password": member.password, "new_password": "a brand new password"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    spec = client.get("/openapi.json").json()["paths"]["/api/v1/users/me/password"]["post"]["responses"]
    assert "bad_credentials" in spec["403"]["description"] and "429" in spec


def test_session_hint_cookie_lets_the_page_skip_probes(client) -> None:
    """A readable, secret-free ``guardian_session=1`` cookie comes with every session and goes with it, so
    a signed-out page knows without asking (and without logging two 401s)."""
    response = client.post("/api/v1/auth/signup", json={"email": "mia@home.example.org", "password": "mia's long password",
                                                        "tenant_name": "Home"})
    hint = next(c for c in response.headers.get_list("set-cookie") if c.startswith("guardian_session="))
    assert hint.startswith("guardian_session=1;") and "HttpOnly" not in hint and "Path=/;" in hint
    assert "samesite=strict" in hint.lower() and "Secure" in hint
    # It proves nothing: the API never reads it.
    client.cookies.clear()
    assert client.get("/api/v1/users/me", cookies={"guardian_session": "1"}).status_code == 401
    login_response = client.post("/api/v1/auth/login", json={"email": "mia@home.example.org", "password": "mia's long password"})
    assert any(c.startswith("guardian_session=1;") for c in login_response.headers.get_list("set-cookie"))
    refreshed = client.post("/api/v1/auth/refresh")
    assert any(c.startswith("guardian_session=1;") for c in refreshed.headers.get_list("set-cookie"))
    out = client.post("/api/v1/auth/logout")
    assert any(c.startswith("guardian_session=") and "Max-Age=0" in c for c in out.headers.get_list("set-cookie"))
    # A refused refresh clears it too (the session is over).
    client.cookies.clear()
    refused = client.post("/api/v1/auth/refresh", cookies={"guardian_refresh": "not-a-token"})
    assert refused.status_code == 401
    assert any(c.startswith("guardian_session=") and "Max-Age=0" in c for c in refused.headers.get_list("set-cookie"))
