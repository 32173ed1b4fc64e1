"""The real cloud (``cloud.api`` on SQLite) for relay tests: one tenant, its relay (registered with the
relay's signing public key) and a tenant admin, so a relay talks to the real signed routes and the test
acts through the real tenant API.

:func:`prepare` migrates and seeds the database; :class:`TenantAdmin` calls the tenant API as the admin
(through any httpx client: a ``TestClient`` on the same database, or a real connection). Run the app as a
process over HTTPS (the lab starts it on the relay's loopback)::

    python -m tests.relay.cloud_real --settings cloud.json --cert c.pem --key c.key --port 9443
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import httpx

from guardian.contracts import auth

ADMIN_EMAIL = "admin@tenant-a.example.org"
ADMIN_PASSWORD = "correct horse battery staple"
SECRET = "relay-test-secret-" + "q7Wm2Xc9Lp4Zr8Tn3Vb6"


def cloud_settings(db_path: Path, signing_key: auth.Ed25519PrivateKey) -> dict[str, Any]:
    """CloudSettings values: SQLite at ``db_path``, ``signing_key`` signs bootstrap tokens."""
    return {
        "secret_key": SECRET,
        "signing_key": auth.private_key_to_text(signing_key),
        "database": {"url": f"sqlite:///{db_path}"},
        "retention_interval_seconds": 3600,
        "log_level": "info",
    }


def write_settings(path: Path, values: dict[str, Any]) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    return path


def prepare(values: dict[str, Any], *, tenant_id: str, relay_id: str, relay_public_key: str, relay_url: str) -> None:
    """Migrate the database and register the tenant, its relay and the tenant admin."""
    from cloud.core.db import make_engine, make_sessionmaker, migrate
    from cloud.core.security import hash_password
    from cloud.tables import Relay, Tenant, User

    url = values["database"]["url"]
    migrate(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            session.add(Tenant(id=tenant_id, name="Home", plan="free"))
            session.flush()
            session.add(Relay(id=relay_id, name=relay_id, endpoint_url=relay_url, public_key=relay_public_key,
                              tenant_id=tenant_id))
            session.add(User(email=ADMIN_EMAIL, password_hash=hash_password(ADMIN_PASSWORD), tenant_id=tenant_id,
                             role="admin"))
            session.commit()
    finally:
        engine.dispose()


def app_for(values: dict[str, Any]) -> Any:
    from cloud.api.main import create_app
    from cloud.core.config import CloudSettings

    return create_app(CloudSettings(**values))




class TenantAdmin:
    """The tenant admin, through the tenant API."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        response = client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert response.status_code == 200, response.text
        client.cookies.clear()
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def issue_token(self, label: str) -> dict[str, Any]:
        """A bootstrap token: ``{"id": nonce, "token": text, ...}``."""
        response = self.client.post("/api/v1/bootstrap-tokens", json={"label": label}, headers=self.headers)
        assert response.status_code == 201, response.text
        return response.json()

    def revoke_token(self, token_id: str) -> None:
        response = self.client.delete(f"/api/v1/bootstrap-tokens/{token_id}", headers=self.headers)
        assert response.status_code == 204, response.text

    def devices(self) -> list[str]:
        response = self.client.get("/api/v1/devices", headers=self.headers)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()]

    def revoke_device(self, device_id: str) -> None:
        response = self.client.delete(f"/api/v1/devices/{device_id}", headers=self.headers)
        assert response.status_code == 204, response.text


def main() -> None:
    import uvicorn

    from guardian.runtime.logging import configure_logging

    parser = argparse.ArgumentParser()
    parser.add_argument("--settings", required=True, help="JSON file of CloudSettings values")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    values = json.loads(Path(args.settings).read_text())
    configure_logging(values.get("log_level", "info"))
    uvicorn.run(app_for(values), host=args.host, port=args.port, ssl_certfile=args.cert, ssl_keyfile=args.key,
                log_config=None, access_log=False)


if __name__ == "__main__":
    main()
