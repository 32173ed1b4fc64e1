"""The personalised edge image download (issue #22): byte-identical to scripts/personalise-image.sh for
the same settings, resumable with Range/If-Range, its checksum right, and only for the token's tenant.

The generic image is a small real GPT disk with a FAT ESP carrying the image build's enrolment slot
(tests/images/esp_disk.py), followed by random data so a substitution in the wrong place shows."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cloud.api.main import create_app
from cloud.core.config import CloudSettings
from cloud.services import edge_image
from guardian.contracts import enrol_slot
from tests.cloud.conftest import Member, add_relay, make_settings, signup, test_client
from tests.cloud.servers import serve
from tests.images import esp_disk
from tests.images.test_personalise import SCRIPT

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("sfdisk", "mkfs.vfat", "mcopy", "mtype")),
    reason="scripts/setup.d/60-images.sh installs fdisk, dosfstools and mtools",
)
# The bytes do not depend on the database: those tests run on SQLite only; access checks on both backends.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIBrelayca\n-----END CERTIFICATE-----\n"
# The operator's SSH public keys (issue #19): every download carries them, as personalise-image.sh --operator-keys.
OPERATOR_KEYS = b"# operators\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyForTheTest ops@example.net\n"


@pytest.fixture(scope="module")
def generic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return esp_disk.esp_disk(tmp_path_factory.mktemp("image") / "guardian-edge.raw", data=esp_disk.random_data(4 << 20))


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "relay-ca.pem"
    path.write_bytes(CA_PEM)
    return path


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "operator_keys"
    path.write_bytes(OPERATOR_KEYS)
    return path


@pytest.fixture
def settings(db_url: str, signing_key: Any, generic: Path, ca_file: Path, keys_file: Path) -> CloudSettings:
    return make_settings(db_url, signing_key, edge_image={"path": str(generic), "relay_ca_file": str(ca_file),
                                                          "operator_ssh_keys_file": str(keys_file)})


@pytest.fixture
def client(settings: CloudSettings) -> Iterator[TestClient]:
    edge_image.reset_cache()
    app = create_app(settings)
    add_relay(app, "relay-a")
    add_relay(app, "relay-b")
    with test_client(app) as c:
        yield c


def _issue(client: TestClient, member: Member) -> dict[str, Any]:
    response = client.post("/api/v1/bootstrap-tokens", json={"label": "hall"}, headers=member.auth)
    assert response.status_code == 201, response.text
    issued: dict[str, Any] = response.json()
    return issued


def _script_output(generic: Path, tmp_path: Path, token: str, ca_file: Path) -> bytes:
    token_file = tmp_path / "token.txt"
    token_file.write_text(token)
    out = tmp_path / "device.raw"
    subprocess.run([str(SCRIPT), str(generic), str(out), "--relay", "relay-a.relays.example.org:443",
                    "--token-file", str(token_file), "--relay-ca", str(ca_file),
                    "--operator-keys", str(tmp_path / "operator_keys")], check=True, capture_output=True)
    return out.read_bytes()


@sqlite_only
def test_download_is_byte_identical_to_the_script(client: TestClient, generic: Path, tmp_path: Path, ca_file: Path) -> None:
    owner = signup(client, "owner@example.org")
    issued = _issue(client, owner)
    response = client.get(f"/api/v1/bootstrap-tokens/{issued['id']}/image", headers=owner.auth)
    assert response.status_code == 200, response.text
    assert issued["token"] not in response.url.path
    assert response.headers["content-length"] == str(generic.stat().st_size)
    expected = _script_output(generic, tmp_path, issued["token"], ca_file)
    assert response.content == expected, "the download must be what personalise-image.sh writes"
    keys_line = b"GUARDIAN_OPERATOR_SSH_KEYS=" + base64.b64encode(enrol_slot.operator_keys(OPERATOR_KEYS))
    assert keys_line in response.content, "the operator's keys ride in every download"
    assert response.content != generic.read_bytes()

    checksum = client.get(f"/api/v1/bootstrap-tokens/{issued['id']}/image/checksum", headers=owner.auth).json()
    assert checksum == {"size": len(expected), "sha256": hashlib.sha256(expected).hexdigest(),
                        "etag": response.headers["etag"]}


@sqlite_only
def test_a_browser_download_with_the_access_cookie(client: TestClient) -> None:
    owner = signup(client, "owner@example.org")
    issued = _issue(client, owner)
    client.cookies.set("guardian_access", owner.token)
    try:
        response = client.get(f"/api/v1/bootstrap-tokens/{issued['id']}/image", headers={"Range": "bytes=0-511"})
    finally:
        client.cookies.clear()
    assert response.status_code == 206 and len(response.content) == 512


@sqlite_only
def test_range_requests_resume(settings: CloudSettings, generic: Path, tmp_path: Path, ca_file: Path) -> None:
    """Three ranges through a real uvicorn, as a resuming download fetches them, make the whole image."""
    app = create_app(settings)
    add_relay(app, "relay-a")
    with serve(app) as base, httpx.Client(base_url=base) as http:
        owner = signup(http, "owner@example.org", app=app)
        issued = http.post("/api/v1/bootstrap-tokens", json={"label": "hall"}, headers=owner.auth).json()
        url = f"/api/v1/bootstrap-tokens/{issued['id']}/image"
        size = generic.stat().st_size
        first = http.get(url, headers={**owner.auth, "Range": "bytes=0-1000000"})
        etag = first.headers["etag"]
        assert first.status_code == 206 and first.headers["content-range"] == f"bytes 0-1000000/{size}"
        middle = http.get(url, headers={**owner.auth, "Range": f"bytes=1000001-{size - 123457}", "If-Range": etag})
        last = http.get(url, headers={**owner.auth, "Range": "bytes=-123456", "If-Range": etag})
        assert (middle.status_code, last.status_code) == (206, 206)
        whole = first.content + middle.content + last.content
        assert whole == _script_output(generic, tmp_path, issued["token"], ca_file)

        # A validator that no longer matches (another image version) gets the whole file again.
        stale = http.get(url, headers={**owner.auth, "Range": "bytes=0-9", "If-Range": '"stale"'})
        assert stale.status_code == 200 and stale.content == whole
        past = http.get(url, headers={**owner.auth, "Range": f"bytes={size}-"})
        assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"


def test_only_the_tokens_tenant_admins_get_its_image(client: TestClient) -> None:
    owner = signup(client, "owner@example.org")
    other = signup(client, "other@example.org", tenant="Elsewhere")
    issued = _issue(client, owner)
    for path in (f"/api/v1/bootstrap-tokens/{issued['id']}/image", f"/api/v1/bootstrap-tokens/{issued['id']}/image/checksum"):
        response = client.get(path, headers=other.auth)
        assert response.status_code == 404, response.text
        assert client.get(path).status_code == 401
    member = client.post("/api/v1/tenant/members", json={"email": "kid@example.org", "password": "plum orbit ladder 7 quietly", "role": "viewer"},
                         headers=owner.auth)
    assert member.status_code == 201, member.text
    kid = client.post("/api/v1/auth/login", json={"email": "kid@example.org", "password": "plum orbit ladder 7 quietly"}).json()
    client.cookies.clear()
    response = client.get(f"/api/v1/bootstrap-tokens/{issued['id']}/image", headers={"Authorization": f"Bearer {kid['access_token']}"})
    assert response.status_code == 403

    assert client.delete(f"/api/v1/bootstrap-tokens/{issued['id']}", headers=owner.auth).status_code == 204
    response = client.get(f"/api/v1/bootstrap-tokens/{issued['id']}/image", headers=owner.auth)
    assert response.status_code == 410 and response.json()["error"]["code"] == "token_spent"


def test_without_an_image_the_download_says_so(db_url: str, signing_key: Any) -> None:
    app = create_app(make_settings(db_url, signing_key))
    add_relay(app, "relay-a")
    with test_client(app) as client:
        owner = signup(client, "owner@example.org")
        issued = _issue(client, owner)
        response = client.get(f"/api/v1/bootstrap-tokens/{issued['id']}/image", headers=owner.auth)
    assert response.status_code == 503 and response.json()["error"]["code"] == "edge_image_unavailable"
