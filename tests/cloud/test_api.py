"""API quality: error bodies, security headers, CORS, body limits, health, metrics, OpenAPI, config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloud.core.config import CloudSettings
from guardian import tokens
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
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("secret", ["changethis", "short", "a" * 40])
def test_config_refuses_weak_secrets(secret) -> None:
    key = tokens.private_key_to_text(tokens.generate_private_key())
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
                "GUARDIAN_CLOUD_SIGNING_KEY": tokens.private_key_to_text(tokens.generate_private_key()),
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
    assert tokens.public_key_to_text(tokens.private_key_from_text(relay["private_key"])) == relay["public_key"]
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
