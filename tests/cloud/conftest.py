"""Fixtures for the cloud: a real PostgreSQL started here (and SQLite), the app, users and relays.

PostgreSQL: ``initdb`` as the ``postgres`` user into a temporary directory, ``pg_ctl start`` on a free
port (FACTS.md), once per session; the schema is migrated once into a template database and every test
gets a fresh copy (``CREATE DATABASE … TEMPLATE``), so tests are isolated and fast.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.api.main import create_app
from cloud.core.config import CloudSettings
from cloud.core.db import migrate
from cloud.core.security import hash_password
from cloud.services import accounts
from cloud.tables import Relay, Tenant, User
from guardian.contracts import auth

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRET = "test-secret-" + "k9Qz7xLm2Vb8Nc4Rt6Yw1Pa3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgServer:
    port: int
    admin_dsn: str

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_db(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_db(self, name: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 is not installed; run scripts/setup.sh (scripts/setup.d/40-postgres.sh)")
    base = Path(tempfile.mkdtemp(prefix="guardian-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    shutil.chown(base, "postgres", "postgres")
    shutil.chown(sock, "postgres", "postgres")
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-E", "UTF8",
                    "--locale=C.UTF-8"], check=True, capture_output=True)
    port = free_port()
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o", opts,
                    "start"], check=True, capture_output=True)
    try:
        yield PgServer(port=port, admin_dsn=f"postgresql://postgres@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> str:
    pg_server.create_db("guardian_template")
    migrate(pg_server.url("guardian_template"))
    return "guardian_template"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cloud.db'}"
        migrate(url)
        yield url
        return
    server: PgServer = request.getfixturevalue("pg_server")
    template: str = request.getfixturevalue("pg_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield server.create_db(name, template)
    server.drop_db(name)


@pytest.fixture
def pg_url(pg_server: PgServer, pg_template: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield pg_server.create_db(name, pg_template)
    pg_server.drop_db(name)


@pytest.fixture(scope="session")
def signing_key() -> Any:
    return auth.generate_private_key()


def make_settings(db_url: str, signing_key: Any, **overrides: Any) -> CloudSettings:
    values: dict[str, Any] = {
        "secret_key": SECRET,
        "signing_key": auth.private_key_to_text(signing_key),
        "database": {"url": db_url},
        "retention_interval_seconds": 3600,
        "http": {"cors_origins": ["https://app.example.org"]},
        # Tests sign up many tenants from 127.0.0.1; test_signup.py checks the throttle at its defaults.
        "auth": {"signup_max_per_ip": 1000, "signup_max_total": 1000},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return CloudSettings(**values)


@pytest.fixture
def settings(db_url: str, signing_key: Any) -> CloudSettings:
    return make_settings(db_url, signing_key)


def test_client(app: Any) -> TestClient:
    return TestClient(app, base_url="https://testserver", client=("127.0.0.1", 50000))


test_client.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def app(settings: CloudSettings) -> Any:
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with test_client(app) as c:
        yield c


@dataclass
class RelayHandle:
    id: str
    key: Any
    endpoint: str

    def headers(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        return auth.sign_relay_request(self.key, relay_id=self.id, method=method, path=path, body=body)

    def post(self, client: TestClient, path: str, body: bytes) -> Any:
        return client.post(path, content=body, headers={**self.headers("POST", path, body),
                                                         "Content-Type": "application/json"})

    def get(self, client: TestClient, path: str) -> Any:
        return client.get(path, headers=self.headers("GET", path))


def add_relay(app: Any, name: str) -> RelayHandle:
    key = auth.generate_private_key()
    cloud = app.state.cloud
    with cloud.sessions() as session:
        relay = Relay(name=name, endpoint_url=f"https://{name}.relays.example.org",
                      public_key=auth.public_key_to_text(key))
        session.add(relay)
        session.commit()
        return RelayHandle(relay.id, key, relay.endpoint_url)


def add_operator(app: Any, email: str = "ops@guardian.example.org", password: str = "operator-password-1") -> None:
    with app.state.cloud.sessions() as session:
        session.add(User(email=email, password_hash=hash_password(password), is_operator=True, role="admin"))
        session.commit()


@dataclass
class Member:
    email: str
    password: str
    token: str
    tenant_id: str
    user_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def signup(client: TestClient | httpx.Client, email: str, password: str = "correct horse battery",
           tenant: str = "Home", take_relay: bool = True, app: Any = None) -> Member:
    """Sign up; with ``take_relay`` the new tenant also takes a free relay from the pool, if any, as adding
    its first device would (most tests then post as that relay without enrolling a device first). A
    client of a served app (not a TestClient) passes that ``app``."""
    response = client.post("/api/v1/auth/signup", json={"email": email, "password": password, "tenant_name": tenant})
    assert response.status_code == 201, response.text
    token = response.json()["access_token"]
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).json()
    client.cookies.clear()
    if take_relay:
        cloud_app = app if app is not None else getattr(client, "app", None)
        assert cloud_app is not None, "pass app= to take a relay through a client of a served app"
        with cloud_app.state.cloud.sessions() as session:
            try:
                accounts.assign_relay(session, session.get(Tenant, me["tenant_id"]))
                session.commit()
            except accounts.RelayPoolEmpty:
                pass
    return Member(email, password, token, me["tenant_id"], me["id"])


def login(client: TestClient, email: str, password: str) -> str:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return response.json()["access_token"]
