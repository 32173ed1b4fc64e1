"""OpenID Connect login end to end against a real provider (oidc-provider-mock, a Flask/Authlib OP).

The provider sits behind a small HTTP proxy so tests can play a network attacker: flip a byte of the
id_token's signature (bad signature) or have the code issued to another client (wrong audience, a
validly signed token meant for someone else). In pass-through mode the proxy changes nothing.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import oidc_provider_mock
import pytest

from cloud.api.main import create_app
from tests.cloud.conftest import add_relay, make_settings, test_client

CLIENT_ID = "guardian-cloud"
REDIRECT = "https://testserver/api/v1/auth/oidc/callback"


class Proxy:
    mode = "pass"

    def __init__(self, upstream_port: int) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:  # keep test output quiet
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                path = self.path
                if proxy.mode == "audience":
                    path = path.replace(f"client_id={CLIENT_ID}", "client_id=another-app")
                    body = body.replace(f"client_id={CLIENT_ID}".encode(), b"client_id=another-app")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length", "connection")}
                upstream = httpx.request(self.command, f"http://localhost:{upstream_port}{path}", headers=headers,
                                         content=body, follow_redirects=False)
                content = upstream.content
                if proxy.mode == "tamper" and urlsplit(path).path == "/oauth2/token" and upstream.status_code == 200:
                    data = upstream.json()
                    head, claims, sig = data["id_token"].split(".")
                    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
                    raw[10] ^= 0x01
                    data["id_token"] = ".".join([head, claims, base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")])
                    content = json.dumps(data).encode()
                self.send_response(upstream.status_code)
                for key, value in upstream.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

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
    tenant = oidc_client.get("/api/v1/tenant").json()
    assert tenant["relay_id"] is not None
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
