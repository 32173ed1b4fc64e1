"""OpenID Connect login end to end against a real provider (oidc-provider-mock, a Flask/Authlib OP).

The provider sits behind a small HTTP proxy so tests can play a network attacker: flip a byte of the
id_token's signature (bad signature), have the code issued to another client (wrong audience, a
validly signed token meant for someone else) or alter the PKCE verifier the cloud sends. In
pass-through mode the proxy changes nothing.

The mock accepts ``code_challenge`` and ignores it, so the proxy enforces PKCE (RFC 7636 §4.6) at the
provider's HTTP interface, as a real provider does: it remembers the challenge of the authorization
request each code was issued for, and the token endpoint answers ``invalid_grant`` unless the
``code_verifier`` is well-formed and its SHA-256, base64url without padding, equals that challenge.
It also records what crossed it, for the tests to check.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx
import oidc_provider_mock
import pytest

from cloud.api.main import create_app
from tests.cloud.conftest import add_relay, make_settings, test_client

CLIENT_ID = "guardian-cloud"
REDIRECT = "https://testserver/api/v1/auth/oidc/callback"


VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")


class Proxy:
    mode = "pass"

    def __init__(self, upstream_port: int) -> None:
        proxy = self
        self.reset()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:  # keep test output quiet
                pass

            def _reply(self, status: int, headers: dict[str, str], content: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                path = self.path
                endpoint = urlsplit(path).path
                if proxy.mode == "audience":
                    path = path.replace(f"client_id={CLIENT_ID}", "client_id=another-app")
                    body = body.replace(f"client_id={CLIENT_ID}".encode(), b"client_id=another-app")
                if endpoint == "/oauth2/token":
                    form = dict(parse_qsl(body.decode()))
                    if proxy.mode == "verifier" and "code_verifier" in form:
                        verifier = form["code_verifier"]
                        form["code_verifier"] = ("A" if verifier[0] != "A" else "B") + verifier[1:]
                        body = urlencode(form).encode()
                    proxy.token_requests.append(form)
                    refused = proxy.pkce_refusal(form)
                    if refused:
                        error = {"error": "invalid_grant", "error_description": refused}
                        self._reply(400, {"Content-Type": "application/json"}, json.dumps(error).encode())
                        return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length", "connection")}
                upstream = httpx.request(self.command, f"http://localhost:{upstream_port}{path}", headers=headers,
                                         content=body, follow_redirects=False)
                if endpoint == "/oauth2/authorize" and upstream.status_code == 302:
                    code = parse_qs(urlsplit(upstream.headers["location"]).query).get("code")
                    if code:  # the user consented: remember the challenge this code is bound to
                        query = parse_qs(urlsplit(path).query)
                        proxy.issued[code[0]] = (
                            query.get("code_challenge", [None])[0], query.get("code_challenge_method", [None])[0]
                        )
                content = upstream.content
                if proxy.mode == "tamper" and urlsplit(path).path == "/oauth2/token" and upstream.status_code == 200:
                    data = upstream.json()
                    head, claims, sig = data["id_token"].split(".")
                    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
                    raw[10] ^= 0x01
                    data["id_token"] = ".".join([head, claims, base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")])
                    content = json.dumps(data).encode()
                self._reply(upstream.status_code, dict(upstream.headers.items()), content)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.issued: dict[str, tuple[str | None, str | None]] = {}  # code -> (code_challenge, method)
        self.token_requests: list[dict[str, str]] = []

    def pkce_refusal(self, form: dict[str, str]) -> str | None:
        """Why the token endpoint must refuse this request under PKCE, or None (RFC 7636 §4.6)."""
        challenge, method = self.issued.get(form.get("code", ""), (None, None))
        verifier = form.get("code_verifier", "")
        if challenge is None or method != "S256":
            return "the authorization request had no S256 code_challenge"
        if not VERIFIER.match(verifier):
            return "code_verifier missing or malformed"
        if s256(verifier) != challenge:
            return "code_verifier does not match the code_challenge"
        return None

    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def provider() -> Iterator[Proxy]:
    with oidc_provider_mock.run_server_in_thread(port=0) as server:
        proxy = Proxy(server.server_port)
        try:
            yield proxy
        finally:
            proxy.close()


@pytest.fixture
def oidc_client(provider, db_url, signing_key):
    provider.mode = "pass"
    provider.reset()
    settings = make_settings(db_url, signing_key, oidc={
        "enabled": True, "issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": "provider-secret-1",
        "redirect_url": REDIRECT, "token_auth_method": "client_secret_post"})
    app = create_app(settings)
    with test_client(app) as client:
        add_relay(app, "relay-oidc")
        yield client


def _login(client, subject: str):
    start = client.get("/api/v1/auth/oidc/login", follow_redirects=False)
    assert start.status_code == 302
    authorize = start.headers["location"]
    query = dict(httpx.URL(authorize).params)
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] and query["nonce"]
    # The user signs in at the provider, which redirects back with a code.
    consent = httpx.post(authorize, data={"sub": subject}, follow_redirects=False)
    assert consent.status_code == 302, consent.text
    back = httpx.URL(consent.headers["location"])
    assert str(back).startswith(REDIRECT)
    return client.get(f"{back.path}?{back.query.decode()}", follow_redirects=False)


def test_oidc_login_creates_user_then_signs_in(oidc_client) -> None:
    done = _login(oidc_client, "olivia@idp.example.org")
    assert done.status_code == 303 and done.headers["location"] == "/"
    me = oidc_client.get("/api/v1/users/me")
    assert me.status_code == 200
    first = me.json()
    assert first["email"] == "olivia@idp.example.org" and first["role"] == "admin" and first["tenant_id"]
    # Its new tenant takes a relay from the pool with its first device, not at sign-up.
    assert oidc_client.get("/api/v1/tenant").json()["relay_id"] is None
    assert oidc_client.post("/api/v1/bootstrap-tokens", json={"label": "porch"}).status_code == 201
    assert oidc_client.get("/api/v1/tenant").json()["relay_id"] is not None
    oidc_client.cookies.clear()
    # Second login: the same account, no new tenant.
    assert _login(oidc_client, "olivia@idp.example.org").status_code == 303
    assert oidc_client.get("/api/v1/users/me").json() == first


def test_oidc_bad_signature_refused(oidc_client, provider) -> None:
    provider.mode = "tamper"
    done = _login(oidc_client, "mallory@idp.example.org")
    assert done.status_code == 401
    assert done.json()["error"] == {"code": "oidc_failed", "message": "id_token signature does not verify"}
    assert oidc_client.get("/api/v1/users/me").status_code == 401


def test_oidc_wrong_audience_refused(oidc_client, provider) -> None:
    provider.mode = "audience"
    done = _login(oidc_client, "mallory@idp.example.org")
    assert done.status_code == 401 and done.json()["error"]["code"] == "oidc_wrong_audience"
    assert oidc_client.get("/api/v1/users/me").status_code == 401


def test_oidc_state_must_match_this_browser(oidc_client) -> None:
    start = oidc_client.get("/api/v1/auth/oidc/login", follow_redirects=False)
    consent = httpx.post(start.headers["location"], data={"sub": "x@idp.example.org"}, follow_redirects=False)
    back = httpx.URL(consent.headers["location"])
    oidc_client.cookies.clear()  # another browser receives the redirect
    done = oidc_client.get(f"{back.path}?{back.query.decode()}", follow_redirects=False)
    assert done.status_code == 401 and done.json()["error"]["code"] == "oidc_state"


def _consent(client, subject: str) -> httpx.URL:
    """Start a login in ``client`` (a browser) and sign in at the provider; returns the callback URL."""
    start = client.get("/api/v1/auth/oidc/login", follow_redirects=False)
    consent = httpx.post(start.headers["location"], data={"sub": subject}, follow_redirects=False)
    assert consent.status_code == 302, consent.text
    return httpx.URL(consent.headers["location"])


def test_oidc_pkce_s256_challenge_and_matching_verifier(oidc_client, provider) -> None:
    start = oidc_client.get("/api/v1/auth/oidc/login", follow_redirects=False)
    query = dict(httpx.URL(start.headers["location"]).params)
    challenge = query["code_challenge"]
    assert query["code_challenge_method"] == "S256"
    # base64url of a SHA-256 digest, no padding: 43 characters of the URL-safe alphabet.
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge)
    consent = httpx.post(start.headers["location"], data={"sub": "pkce@idp.example.org"}, follow_redirects=False)
    back = httpx.URL(consent.headers["location"])
    done = oidc_client.get(f"{back.path}?{back.query.decode()}", follow_redirects=False)
    assert done.status_code == 303, done.text
    # The one token request carried the verifier of this login, and the provider accepted it.
    [token_request] = provider.token_requests
    verifier = token_request["code_verifier"]
    assert token_request["code"] == back.params["code"] and token_request["grant_type"] == "authorization_code"
    assert VERIFIER.match(verifier) and s256(verifier) == challenge
    # The verifier never went through the browser: not in the redirect to the provider, nor in a cookie.
    assert verifier not in start.headers["location"]
    assert all(verifier not in value for value in start.headers.get_list("set-cookie"))
    # Each login has its own verifier and challenge.
    oidc_client.cookies.clear()
    again = dict(httpx.URL(oidc_client.get("/api/v1/auth/oidc/login", follow_redirects=False).headers["location"]).params)
    assert again["code_challenge"] != challenge


def test_oidc_tampered_verifier_refused(oidc_client, provider) -> None:
    provider.mode = "verifier"
    done = _login(oidc_client, "mallory@idp.example.org")
    assert done.status_code == 401
    assert done.json()["error"] == {"code": "oidc_failed", "message": "OIDC token endpoint refused the code (HTTP 400)"}
    assert provider.token_requests and provider.pkce_refusal(provider.token_requests[-1])
    assert oidc_client.get("/api/v1/users/me").status_code == 401


def test_oidc_stolen_code_refused_in_another_browser_session(oidc_client, provider) -> None:
    # The victim signs in at the provider; the attacker gets hold of the redirect back (its code).
    victim = _consent(oidc_client, "victim@idp.example.org")
    oidc_client.cookies.clear()
    # In their own browser session the attacker starts a login (valid state cookie, the cloud holds
    # this session's verifier) and feeds the victim's code to the callback. The state matches, so only
    # PKCE stands in the way: the cloud redeems the code with the attacker session's verifier, which
    # does not hash to the challenge the victim's code was issued for.
    attacker = _consent(oidc_client, "attacker@idp.example.org")
    injected = f"{attacker.path}?state={attacker.params['state']}&code={victim.params['code']}"
    done = oidc_client.get(injected, follow_redirects=False)
    assert done.status_code == 401 and done.json()["error"]["code"] == "oidc_failed"
    assert provider.pkce_refusal(provider.token_requests[-1]) == "code_verifier does not match the code_challenge"
    assert oidc_client.get("/api/v1/users/me").status_code == 401
    # That login is spent: the attacker's own code cannot be redeemed on it afterwards either.
    again = oidc_client.get(f"{attacker.path}?{attacker.query.decode()}", follow_redirects=False)
    assert again.status_code == 401 and again.json()["error"]["code"] == "oidc_state"


def test_oidc_callback_replay_refused(oidc_client) -> None:
    back = _consent(oidc_client, "replay@idp.example.org")
    callback = f"{back.path}?{back.query.decode()}"
    assert oidc_client.get(callback, follow_redirects=False).status_code == 303
    state_cookie = back.params["state"]
    oidc_client.cookies.clear()
    # Replayed in another browser session without the login's state cookie, then even with it.
    replay = oidc_client.get(callback, follow_redirects=False)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "oidc_state"
    oidc_client.cookies.set("guardian_oidc_state", state_cookie, path="/api/v1/auth/oidc")
    replay = oidc_client.get(callback, follow_redirects=False)
    assert replay.status_code == 401 and replay.json()["error"] == {
        "code": "oidc_state", "message": "login expired or already used"}


def test_oidc_identity_with_control_characters_refused(oidc_client) -> None:
    """A provider's subject or e-mail with a NUL (PostgreSQL refuses it in text: a 500) is refused
    like any other unusable identity, and nothing is stored."""
    done = _login(oidc_client, "nul\u0000@idp.example.org")
    assert done.status_code == 401, done.text
    assert done.json()["error"]["code"] == "oidc_claims"
    assert oidc_client.get("/api/v1/users/me").status_code == 401
