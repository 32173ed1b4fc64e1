"""API quality: error bodies, security headers, CORS, body limits, health, metrics, OpenAPI, config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloud.core.config import CloudSettings
from guardian.contracts import auth
from guardian.runtime.config import load_settings
from guardian.runtime.errors import ConfigError
from tests.cloud.conftest import SECRET

VENV_BIN = Path(sys.executable).parent


def test_security_headers_and_error_body(client) -> None:
    r = client.get("/api/v1/events")
    assert r.status_code == 401
    assert r.json() == {"error": {"code": "unauthorized", "message": "not signed in"}}
    for header in ("x-content-type-options", "x-frame-options", "content-security-policy", "strict-transport-security",
                   "referrer-policy"):
        assert header in r.headers
    assert r.headers["cache-control"] == "no-store"
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_cors_only_for_configured_origins(client) -> None:
    allowed = client.options("/api/v1/auth/login", headers={"Origin": "https://app.example.org",
                                                            "Access-Control-Request-Method": "POST"})
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example.org"
    assert allowed.headers.get("access-control-allow-credentials") == "true"
    other = client.options("/api/v1/auth/login", headers={"Origin": "https://evil.example.net",
                                                           "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers
    simple = client.get("/api/v1/keys", headers={"Origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in simple.headers


def test_request_size_limit(client) -> None:
    r = client.post("/api/v1/auth/login", content=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

    def chunks():
        for _ in range(40):
            yield b"y" * 65536

    r = client.post("/api/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_healthz_metrics_openapi(client, app) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    client.post("/api/v1/auth/login", json={"email": "nobody@x.example.org", "password": "wrong password"})
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'guardian_cloud_auth_logins_total{method="password",result="failed"} 1.0' in metrics.text
    assert "guardian_cloud_http_requests_total" in metrics.text
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="https://testserver", client=("203.0.113.7", 1)) as outside:
        assert outside.get("/metrics").status_code == 403
    spec = client.get("/openapi.json").json()
    assert "/api/v1/ingest" in spec["paths"] and "/api/v1/events/{event_id}/clip-token" in spec["paths"]


def test_api_docs_load_nothing_from_elsewhere(client) -> None:
    """The session origin runs no third-party script: whatever /docs and /redoc answer references nothing
    outside the app, every asset it names is served here, and no policy allows another origin."""
    import re

    for path in ("/docs", "/redoc", "/docs/oauth2-redirect", "/openapi.json"):
        response = client.get(path, headers={"Accept": "text/html"})
        policy = response.headers["content-security-policy"]
        assert "http" not in policy and "unsafe-inline" not in policy, (path, policy)
        text = response.text
        assert not re.search(r"(https?:)?//(?!testserver\b)[a-z0-9.-]+\.[a-z]{2,}/[^\s\"']*\.(js|css)", text), path
        for asset in re.findall(r"(?:src|href)=[\"']([^\"']+)[\"']", text):
            assert client.get(asset).status_code == 200, (path, asset)
    # Not served at all: Swagger UI and ReDoc would load their script from a CDN.
    assert client.get("/docs").status_code == 404
    assert client.get("/docs").json()["error"]["code"] == "not_found"
    assert client.get("/redoc").status_code == 404


@pytest.mark.parametrize("secret", ["changethis", "short", "a" * 40])
def test_config_refuses_weak_secrets(secret) -> None:
    key = auth.private_key_to_text(auth.generate_private_key())
    with pytest.raises(Exception, match="secret_key"):
        CloudSettings(secret_key=secret, signing_key=key)


def test_config_refuses_missing_secrets(monkeypatch) -> None:
    for name in ("GUARDIAN_CLOUD_SECRET_KEY", "GUARDIAN_CLOUD_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as info:
        load_settings(CloudSettings, None)
    assert {"secret_key: required but not set", "signing_key: required but not set"} <= set(info.value.problems)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_") and k != "CREDENTIALS_DIRECTORY"}
    env.update({"GUARDIAN_CLOUD_SECRET_KEY": SECRET,
                "GUARDIAN_CLOUD_SIGNING_KEY": auth.private_key_to_text(auth.generate_private_key()),
                "GUARDIAN_CLOUD_DATABASE__URL": f"sqlite:///{tmp_path / 'cli.db'}"})
    env.update(extra)
    return env


def test_cli_operator_workflow(tmp_path) -> None:
    cli = [str(VENV_BIN / "guardian-cloud")]
    env = _env(tmp_path)

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)

    assert run("check-config").returncode == 0
    assert run("migrate").returncode == 0
    created = run("create-admin", "root@ops.example.org", "--password-stdin", stdin="operator password 1\n")
    assert created.returncode == 0, created.stderr
    dup = run("create-admin", "root@ops.example.org", "--password-stdin", stdin="operator password 1\n")
    assert dup.returncode != 0 and dup.stderr.count("\n") == 1 and "Traceback" not in dup.stderr
    reg = run("relays", "register", "relay-7", "--endpoint", "https://relay-7.example.org", "--generate-key")
    assert reg.returncode == 0, reg.stderr
    import json

    relay = json.loads(reg.stdout)
    assert auth.public_key_to_text(auth.private_key_from_text(relay["private_key"])) == relay["public_key"]
    assert relay["enrolment_endpoint"] is None
    reg8 = run("relays", "register", "relay-8", "--endpoint", "https://relay-8.example.org", "--generate-key",
               "--enrolment-endpoint", "enrol.relay-8.example.org:8443")
    assert reg8.returncode == 0 and json.loads(reg8.stdout)["enrolment_endpoint"] == "enrol.relay-8.example.org:8443"
    bad_enrol = run("relays", "register", "relay-9", "--endpoint", "https://relay-9.example.org", "--generate-key",
                    "--enrolment-endpoint", "relay-9.example.org")
    assert bad_enrol.returncode != 0 and "Traceback" not in bad_enrol.stderr
    # A base64url key can start with "-" (1 in 64): written as --public-key=KEY, as the deploy does.
    dash_key = next(k for k in (auth.public_key_to_text(auth.generate_private_key()) for _ in range(10_000))
                    if k.startswith("-"))
    reg10 = run("relays", "register", "relay-10", "--endpoint", "https://relay-10.example.org",
                f"--public-key={dash_key}")
    assert reg10.returncode == 0, reg10.stderr
    assert json.loads(reg10.stdout)["public_key"] == dash_key
    listed = run("relays", "list")
    assert relay["id"] in listed.stdout and "private" not in listed.stdout
    assert run("tenants", "list").returncode == 0

    bad = subprocess.run([*cli, "check-config"], env=_env(tmp_path, GUARDIAN_CLOUD_SECRET_KEY="changethis"),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 78
    assert bad.stderr.strip().startswith("guardian-cloud: config error:") and "secret_key" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_serve_logs_json_without_secrets_or_personal_data(tmp_path) -> None:
    import json
    import time

    import httpx

    from tests.cloud.conftest import free_port

    cli = str(VENV_BIN / "guardian-cloud")
    env = _env(tmp_path, GUARDIAN_CLOUD_AUTH__COOKIE_SECURE="false")
    assert subprocess.run([cli, "migrate"], env=env, capture_output=True, timeout=60).returncode == 0
    port = free_port()
    proc = subprocess.Popen([cli, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        r = httpx.post(f"{base}/api/v1/auth/signup", json={"email": "private.person@home.example.org",
                                                           "password": "my secret password", "tenant_name": "Home"})
        assert r.status_code == 201
        token = r.json()["access_token"]
        httpx.post(f"{base}/api/v1/auth/login", json={"email": "private.person@home.example.org",
                                                      "password": "wrong secret password"})
        httpx.get(f"{base}/api/v1/auth/oidc/callback?code=abc123code&state=xyz789state")
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "signup" for line in lines)
    assert any(line.get("event") == "request" and line.get("route") == "/api/v1/auth/login" for line in lines)
    for secret in ("private.person", "my secret password", token, "abc123code", "xyz789state", SECRET):
        assert secret not in output


# --- the web UI next to the API ---------------------------------------------------------------------

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def ui_client(db_url, signing_key, tmp_path):
    """The app serving a small built UI (index.html and one hashed asset) from http.ui_dir."""
    from cloud.api.main import create_app
    from tests.cloud.conftest import make_settings, test_client

    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>Guardian</title><div id=root></div>")
    (dist / "assets" / "index-abc123.js").write_text("console.log('ui')")
    (dist / "404.html").write_text("<!doctype html><title>copy of index.html</title>")  # as the Vite build makes
    app = create_app(make_settings(db_url, signing_key, http={"ui_dir": str(dist)}))
    with test_client(app) as client:
        yield client


def test_ui_client_routes_get_index_and_api_paths_keep_json(ui_client) -> None:
    # The UI's own files and client-side routes (a browser navigating: Accept text/html).
    root = ui_client.get("/", headers=HTML)
    assert root.status_code == 200 and "<div id=root>" in root.text
    for route in ("/events/6f1c3a52-0b7e-4a57-9b61-1f0d2c3e4a5b", "/devices", "/settings/plan"):
        page = ui_client.get(route, headers=HTML)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), route
        assert "<div id=root>" in page.text and page.headers["cache-control"] == "no-cache"
    asset = ui_client.get("/assets/index-abc123.js")
    assert asset.status_code == 200 and asset.text == "console.log('ui')"
    assert "javascript" in asset.headers["content-type"]
    # A missing asset is not the index page (a script must not get HTML), and neither is a non-browser GET.
    for path, headers in (("/assets/index-gone.js", {"Accept": "*/*"}), ("/events/x", {"Accept": "application/json"})):
        missing = ui_client.get(path, headers=headers)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found", path
    # The API's paths answer JSON whatever the client accepts.
    for path in ("/api/v1/nothing-here", "/api", "/api/v2/events", "/docs/nothing", "/redoc/x"):
        for headers in (HTML, {"Accept": "application/json"}):
            r = ui_client.get(path, headers=headers)
            assert r.status_code == 404 and r.json() == {"error": {"code": "not_found", "message": "Not Found"}}, path
    r = ui_client.get("/api/v1/events", headers=HTML)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert ui_client.get("/healthz", headers=HTML).json() == {"status": "ok"}
    assert ui_client.get("/openapi.json", headers=HTML).json()["info"]["title"] == "Guardian cloud"
    # A wrong method on an API route is still the API's 405 (not the UI's), and writes never get the page.
    wrong = ui_client.put("/api/v1/tenant", json={}, headers=HTML)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    post = ui_client.post("/events/x", headers=HTML)
    assert post.status_code in (404, 405) and "error" in post.json()


def _csp(response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_csp_allows_the_relays_media_origins_and_nothing_wider(ui_client) -> None:
    from cloud.tables import Relay
    from tests.cloud.conftest import add_operator, add_relay, login

    app = ui_client.app
    add_relay(app, "relay-a")
    with app.state.cloud.sessions() as session:  # an operator typo must not become a policy
        session.add(Relay(name="relay-bad", endpoint_url="https://evil.example.org; script-src *",
                          public_key=auth.public_key_to_text(auth.generate_private_key())))
        session.commit()
    app.state.cloud.csp.invalidate()
    page = _csp(ui_client.get("/events/x", headers=HTML))
    relay = "https://relay-a.relays.example.org"
    assert page["img-src"] == ["'self'", "blob:", relay]
    assert page["media-src"] == ["'self'", "blob:", relay]
    assert page["connect-src"] == ["'self'", relay]
    assert page["default-src"] == ["'self'"] and page["frame-ancestors"] == ["'none'"]
    assert page["script-src"] == ["'self'", "'wasm-unsafe-eval'"]  # WASM (archive player's Argon2id), no eval
    assert not any(v in ("*", "https:", "http:") for vs in page.values() for v in vs)
    # API answers keep the strict policy (no relays in it).
    api = _csp(ui_client.get("/api/v1/keys"))
    assert "img-src" not in api and api["default-src"] == ["'self'"]

    # An operator registering or disabling a relay changes the policy at once (this process).
    add_operator(app)
    operator = {"Authorization": f"Bearer {login(ui_client, 'ops@guardian.example.org', 'operator-password-1')}"}
    key = auth.public_key_to_text(auth.generate_private_key())
    created = ui_client.post("/api/v1/relays", headers=operator,
                             json={"name": "relay-9", "endpoint_url": "https://Relay-9.example.net:8443/", "public_key": key})
    assert created.status_code == 201, created.text
    page = _csp(ui_client.get("/", headers=HTML))
    assert page["media-src"] == ["'self'", "blob:", "https://relay-9.example.net:8443", relay]
    assert ui_client.patch(f"/api/v1/relays/{created.json()['id']}", json={"enabled": False},
                           headers=operator).status_code == 200
    assert "https://relay-9.example.net:8443" not in _csp(ui_client.get("/", headers=HTML))["img-src"]
    # Changes made by another process (the CLI) are cached until the TTL runs out or a local change.
    add_relay(app, "relay-c")
    assert "https://relay-c.relays.example.org" not in _csp(ui_client.get("/", headers=HTML))["img-src"]
    app.state.cloud.csp.invalidate()
    assert "https://relay-c.relays.example.org" in _csp(ui_client.get("/", headers=HTML))["img-src"]


def test_csp_with_configured_wildcard_and_archive_store(db_url, signing_key, tmp_path) -> None:
    from cloud.api.main import create_app
    from tests.cloud.conftest import add_relay, make_settings, test_client

    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><div id=root></div>")
    settings = make_settings(db_url, signing_key, http={"ui_dir": str(dist), "media_origins": ["https://*.relays.example.org"]},
                             archive={"endpoint_url": "https://s3.example.org/guardian"})
    app = create_app(settings)
    add_relay(app, "relay-a")  # covered by the wildcard: not listed again
    with app.state.cloud.sessions() as session:
        from cloud.tables import Relay

        session.add(Relay(name="relay-x", endpoint_url="http://192.0.2.7:8080",
                          public_key=auth.public_key_to_text(auth.generate_private_key())))
        session.commit()
    with test_client(app) as client:
        page = _csp(client.get("/", headers=HTML))
    assert page["img-src"] == ["'self'", "blob:", "https://*.relays.example.org", "http://192.0.2.7:8080"]
    assert page["media-src"] == ["'self'", "blob:", "https://*.relays.example.org", "http://192.0.2.7:8080"]
    assert page["connect-src"] == ["'self'", "https://*.relays.example.org", "http://192.0.2.7:8080", "https://s3.example.org"]
    with pytest.raises(Exception, match="media_origins"):
        make_settings(db_url, signing_key, http={"media_origins": ["https://x.example.org; script-src *"]})
    with pytest.raises(Exception, match="media_origins"):
        make_settings(db_url, signing_key, http={"media_origins": ["https:"]})


# --- how to sign in ---------------------------------------------------------------------------------


def test_auth_providers_without_and_with_oidc(client, db_url, signing_key) -> None:
    from cloud.api.main import create_app
    from cloud.tables import OidcLogin
    from tests.cloud.conftest import make_settings, test_client

    assert client.get("/api/v1/auth/providers").json() == {"password": True, "signup": True, "oidc": None}
    oidc = {"enabled": True, "issuer": "https://login.example.org/realms/home", "client_id": "guardian",
            "redirect_url": "https://cloud.example.org/api/v1/auth/oidc/callback"}
    for extra, name in (({}, "login.example.org"), ({"display_name": "Keycloak"}, "Keycloak")):
        app = create_app(make_settings(db_url, signing_key, oidc={**oidc, **extra}, auth={"allow_signup": False}))
        with test_client(app) as c:
            r = c.get("/api/v1/auth/providers")
            assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
            assert r.json() == {"password": True, "signup": False,
                                "oidc": {"name": name, "login_url": "/api/v1/auth/oidc/login"}}
            assert "set-cookie" not in r.headers  # no login was started
        with app.state.cloud.sessions() as session:
            assert session.query(OidcLogin).count() == 0


# --- systemd credentials ----------------------------------------------------------------------------


def test_secrets_from_credentials_directory_by_their_documented_names(tmp_path) -> None:
    """``LoadCredential=secret_key:…`` and ``signing_key:…``: the files are named by the keys, not the env names."""
    creds = tmp_path / "credentials"
    creds.mkdir()
    signing = auth.private_key_to_text(auth.generate_private_key())
    (creds / "secret_key").write_text(SECRET + "\n")
    (creds / "signing_key").write_text(signing + "\n")
    (creds / "oidc.client_secret").write_text("oidc-client-secret-from-a-credential")
    toml = tmp_path / "cloud.toml"
    toml.write_text('[database]\nurl = "sqlite:///%s"\n[oidc]\nclient_id = "guardian"\n' % (tmp_path / "c.db"))
    env = {k: v for k, v in _env(tmp_path).items() if k not in ("GUARDIAN_CLOUD_SECRET_KEY", "GUARDIAN_CLOUD_SIGNING_KEY")}
    env["CREDENTIALS_DIRECTORY"] = str(creds)
    script = ("from cloud.core.config import CloudSettings; from guardian.runtime.config import load_settings; "
              "from pathlib import Path; import json, sys; s = load_settings(CloudSettings, Path(sys.argv[1])); "
              "print(json.dumps([s.secret_key.get_secret_value(), s.signing_key.get_secret_value(), "
              "s.oidc.client_secret.get_secret_value(), s.oidc.client_id]))")
    loaded = subprocess.run([sys.executable, "-c", script, str(toml)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert loaded.returncode == 0, loaded.stderr
    import json

    assert json.loads(loaded.stdout) == [SECRET, signing, "oidc-client-secret-from-a-credential", "guardian"]
    # The real program, as systemd would start it: no secrets in the environment, only credentials.
    check = subprocess.run([str(VENV_BIN / "guardian-cloud"), "check-config", "-c", str(toml)], env=env,
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stderr
    # The environment still wins over a credential; the env-style file names keep working.
    (creds / "secret_key").unlink()
    (creds / "GUARDIAN_CLOUD_SECRET_KEY").write_text(SECRET)
    assert subprocess.run([str(VENV_BIN / "guardian-cloud"), "check-config", "-c", str(toml)], env=env,
                          capture_output=True, text=True, timeout=60, check=False).returncode == 0
    weak = subprocess.run([str(VENV_BIN / "guardian-cloud"), "check-config", "-c", str(toml)],
                          env={**env, "GUARDIAN_CLOUD_SECRET_KEY": "changethis"}, capture_output=True, text=True, timeout=60, check=False)
    assert weak.returncode == 78 and "secret_key" in weak.stderr
    # Missing from both: refused, naming the key.
    (creds / "GUARDIAN_CLOUD_SECRET_KEY").unlink()
    missing = subprocess.run([str(VENV_BIN / "guardian-cloud"), "check-config", "-c", str(toml)], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 78 and "secret_key: required but not set" in missing.stderr
