"""The personalised edge image as .img.xz (issue #22): it decodes (xz-utils, and libarchive's bsdcat, as
Raspberry Pi Imager reads it) to exactly the uncompressed download, resumes with Range/If-Range, carries its
SHA-256, is made from parts compressed once per generic image (kept across a restart, made anew for a new
image), and only the token's tenant's admins get it.

The generic image is tests/images/esp_disk.py's small GPT disk with the image build's slot, then random data."""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cloud.api.main import create_app
from cloud.core.config import CloudSettings
from cloud.services import edge_image, edge_image_xz
from guardian.contracts import auth
from tests.cloud.conftest import SECRET, Member, add_relay, make_settings, signup, test_client
from tests.cloud.servers import serve
from tests.images import esp_disk

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("sfdisk", "mkfs.vfat", "mcopy", "xz")),
    reason="scripts/setup.d/60-images.sh installs fdisk, dosfstools, mtools and xz-utils",
)
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def generic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return esp_disk.esp_disk(tmp_path_factory.mktemp("image") / "guardian-edge.raw", data=esp_disk.random_data(1 << 20))


@pytest.fixture(scope="module")
def prepared(generic: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generic image's parts, made ahead of time by ``guardian-cloud edge-image-xz``."""
    directory = tmp_path_factory.mktemp("xz-cache")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_") and k != "CREDENTIALS_DIRECTORY"}
    env |= {"GUARDIAN_CLOUD_SECRET_KEY": SECRET, "GUARDIAN_CLOUD_SIGNING_KEY": auth.private_key_to_text(auth.generate_private_key()),
            "GUARDIAN_CLOUD_DATABASE__URL": f"sqlite:///{directory / 'unused.db'}",
            "GUARDIAN_CLOUD_EDGE_IMAGE__PATH": str(generic), "GUARDIAN_CLOUD_EDGE_IMAGE__XZ_CACHE_DIR": str(directory)}
    config = directory / "cloud.toml"
    config.write_text("")
    for made in ("edge_image_xz_ready", "edge_image_xz_present"):  # a second run finds them made
        run = subprocess.run([str(VENV_BIN / "guardian-cloud"), "edge-image-xz", "-c", str(config)], env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0 and made in run.stdout, run.stderr
    return directory


def _settings(db_url: str, signing_key: Any, image: Path, cache: Path) -> CloudSettings:
    return make_settings(db_url, signing_key, edge_image={"path": str(image), "xz_cache_dir": str(cache)})


@pytest.fixture
def client(db_url: str, signing_key: Any, generic: Path, prepared: Path) -> Iterator[TestClient]:
    edge_image.reset_cache()
    edge_image_xz.reset()
    app = create_app(_settings(db_url, signing_key, generic, prepared))
    add_relay(app, "relay-a")
    with test_client(app) as c:
        yield c


def _issue(client: TestClient | httpx.Client, member: Member) -> str:
    response = client.post("/api/v1/bootstrap-tokens", json={"label": "hall"}, headers=member.auth)
    assert response.status_code == 201, response.text
    token_id: str = response.json()["id"]
    return token_id


def _decoded(tool: list[str], data: bytes) -> bytes:
    return subprocess.run(tool, input=data, capture_output=True, check=True).stdout


@sqlite_only
def test_the_xz_decodes_to_the_uncompressed_download(client: TestClient, prepared: Path) -> None:
    owner = signup(client, "owner@example.org")
    token_id = _issue(client, owner)
    raw = client.get(f"/api/v1/bootstrap-tokens/{token_id}/image", headers=owner.auth)
    xz = client.get(f"/api/v1/bootstrap-tokens/{token_id}/image.xz", headers=owner.auth)
    assert (raw.status_code, xz.status_code) == (200, 200), xz.text
    assert xz.headers["content-type"] == "application/x-xz"
    assert xz.headers["content-disposition"] == f'attachment; filename="guardian-edge-{token_id[:8]}.img.xz"'
    assert len(xz.content) < len(raw.content) // 4  # the ESP's empty space compresses
    assert _decoded(["xz", "-dc"], xz.content) == raw.content
    if shutil.which("bsdcat"):  # libarchive, which Raspberry Pi Imager decodes with
        assert _decoded(["bsdcat"], xz.content) == raw.content

    # Nothing but the slot is compressed per download: the rest is the parts made once, byte for byte.
    prefix, suffix = (next(prepared.glob(f"*.{name}.xz")).read_bytes() for name in ("prefix", "suffix"))
    assert xz.content.startswith(prefix) and xz.content.endswith(suffix)
    assert len(xz.content) - len(prefix) - len(suffix) < 8192

    checksum = client.get(f"/api/v1/bootstrap-tokens/{token_id}/image.xz/checksum", headers=owner.auth).json()
    assert checksum == {"ready": True, "progress": 1.0, "size": len(xz.content), "sha256": hashlib.sha256(xz.content).hexdigest(),
                        "etag": xz.headers["etag"], "image_size": len(raw.content)}

    # Another token: another slot stream, the same parts; the same token again: the same bytes.
    other = client.get(f"/api/v1/bootstrap-tokens/{_issue(client, owner)}/image.xz", headers=owner.auth)
    assert other.content != xz.content and other.headers["etag"] != xz.headers["etag"]
    again = client.get(f"/api/v1/bootstrap-tokens/{token_id}/image.xz", headers=owner.auth)
    assert again.content == xz.content and again.headers["etag"] == xz.headers["etag"]


@sqlite_only
def test_range_requests_resume_the_xz(db_url: str, signing_key: Any, generic: Path, prepared: Path) -> None:
    """Three ranges through a real uvicorn, as a resuming download fetches them, make the whole .img.xz."""
    edge_image_xz.reset()
    app = create_app(_settings(db_url, signing_key, generic, prepared))
    add_relay(app, "relay-a")
    with serve(app) as base, httpx.Client(base_url=base) as http:
        owner = signup(http, "owner@example.org", app=app)
        url = f"/api/v1/bootstrap-tokens/{_issue(http, owner)}/image.xz"
        whole = http.get(url, headers=owner.auth).content
        size = len(whole)
        first = http.get(url, headers={**owner.auth, "Range": f"bytes=0-{size // 3}"})
        etag = first.headers["etag"]
        assert first.status_code == 206 and first.headers["content-range"] == f"bytes 0-{size // 3}/{size}"
        middle = http.get(url, headers={**owner.auth, "Range": f"bytes={size // 3 + 1}-{size - 1001}", "If-Range": etag})
        last = http.get(url, headers={**owner.auth, "Range": "bytes=-1000", "If-Range": etag})
        assert (middle.status_code, last.status_code) == (206, 206)
        assert first.content + middle.content + last.content == whole
        raw = http.get(url.removesuffix(".xz"), headers=owner.auth).content
        assert _decoded(["xz", "-dc"], first.content + middle.content + last.content) == raw

        stale = http.get(url, headers={**owner.auth, "Range": "bytes=0-9", "If-Range": '"stale"'})
        assert stale.status_code == 200 and stale.content == whole
        past = http.get(url, headers={**owner.auth, "Range": f"bytes={size}-"})
        assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"


@sqlite_only
def test_made_once_in_the_background_kept_across_a_restart(db_url: str, signing_key: Any, generic: Path, tmp_path: Path) -> None:
    image = Path(shutil.copy(generic, tmp_path / "guardian-edge.raw"))
    cache = tmp_path / "xz-cache"
    settings = _settings(db_url, signing_key, image, cache)
    edge_image.reset_cache()
    edge_image_xz.reset()
    app = create_app(settings)
    add_relay(app, "relay-a")
    with test_client(app) as client:
        owner = signup(client, "owner@example.org")
        url = f"/api/v1/bootstrap-tokens/{_issue(client, owner)}/image.xz"

        # Another process (the ahead-of-time command) is making the parts: its progress, no second job.
        cache.mkdir()
        fd = os.open(edge_image_xz.lock_path(edge_image.generic_image(image), cache), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.pwrite(fd, b"25 100\n", 0)
            status = client.get(url + "/checksum", headers=owner.auth).json()
            assert status == {"ready": False, "progress": 0.25, "size": None, "sha256": None, "etag": None,
                              "image_size": image.stat().st_size}
            download = client.get(url, headers=owner.auth)
            assert download.status_code == 503 and download.json()["error"]["code"] == "edge_image_preparing"
            assert download.headers["retry-after"]
        finally:
            os.close(fd)  # that process ended without finishing

        # Then this process makes them, in the background, and serves them.
        client.get(url + "/checksum", headers=owner.auth).raise_for_status()
        assert edge_image_xz.wait_prepared(settings, timeout=120)
        assert client.get(url + "/checksum", headers=owner.auth).json()["ready"] is True
        made = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.xz")}
        assert len(made) == 2

    # A restart (nothing in memory) serves the same parts at once; nobody makes them again.
    edge_image.reset_cache()
    edge_image_xz.reset()
    with test_client(create_app(settings)) as client:
        assert client.get(url + "/checksum", headers=owner.auth).json()["ready"] is True
        assert client.get(url, headers=owner.auth).status_code == 200
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.xz")} == made

    # A replaced image is compressed anew; the old one's parts go once the new ones are complete.
    with image.open("r+b") as f:
        f.seek(-1, os.SEEK_END)
        f.write(b"\x01")
    edge_image_xz.reset()
    with test_client(create_app(settings)) as client:
        client.get(url + "/checksum", headers=owner.auth).raise_for_status()
        assert edge_image_xz.wait_prepared(settings, timeout=120)
        xz = client.get(url, headers=owner.auth)
        assert xz.status_code == 200
        assert _decoded(["xz", "-dc"], xz.content) == client.get(url.removesuffix(".xz"), headers=owner.auth).content
    now = {p.name for p in cache.glob("*")}
    assert len([n for n in now if n.endswith(".xz")]) == 2 and not now & set(made)
    assert len({n.split(".")[0] for n in now}) == 1, now  # the old image's meta and lock went too


def test_only_the_tokens_tenant_admins_get_its_xz(client: TestClient) -> None:
    owner = signup(client, "owner@example.org")
    other = signup(client, "other@example.org", tenant="Elsewhere")
    token_id = _issue(client, owner)
    for path in (f"/api/v1/bootstrap-tokens/{token_id}/image.xz", f"/api/v1/bootstrap-tokens/{token_id}/image.xz/checksum"):
        response = client.get(path, headers=other.auth)
        assert response.status_code == 404, response.text
        assert client.get(path).status_code == 401
        assert client.get(path, headers=owner.auth).status_code == 200
    member = client.post("/api/v1/tenant/members", json={"email": "kid@example.org", "password": "plum orbit ladder 7 quietly", "role": "viewer"},
                         headers=owner.auth)
    assert member.status_code == 201, member.text
    kid = client.post("/api/v1/auth/login", json={"email": "kid@example.org", "password": "plum orbit ladder 7 quietly"}).json()
    client.cookies.clear()
    response = client.get(f"/api/v1/bootstrap-tokens/{token_id}/image.xz", headers={"Authorization": f"Bearer {kid['access_token']}"})
    assert response.status_code == 403

    assert client.delete(f"/api/v1/bootstrap-tokens/{token_id}", headers=owner.auth).status_code == 204
    response = client.get(f"/api/v1/bootstrap-tokens/{token_id}/image.xz", headers=owner.auth)
    assert response.status_code == 410 and response.json()["error"]["code"] == "token_spent"


def test_an_unwritable_cache_says_so(db_url: str, signing_key: Any, generic: Path, tmp_path: Path) -> None:
    """The cache directory cannot be made (a file is in the way): 503 naming the setting; the raw image still works."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    edge_image_xz.reset()
    app = create_app(_settings(db_url, signing_key, generic, blocker / "xz"))
    add_relay(app, "relay-a")
    with test_client(app) as client:
        owner = signup(client, "owner@example.org")
        token_id = _issue(client, owner)
        for path in ("image.xz/checksum", "image.xz"):
            failed = client.get(f"/api/v1/bootstrap-tokens/{token_id}/{path}", headers=owner.auth)
            assert failed.status_code == 503 and failed.json()["error"]["code"] == "edge_image_unavailable"
            assert "xz_cache_dir" in failed.json()["error"]["message"]
        assert client.get(f"/api/v1/bootstrap-tokens/{token_id}/image", headers={**owner.auth, "Range": "bytes=0-9"}).status_code == 206



def test_without_a_cache_directory_only_the_raw_image(db_url: str, signing_key: Any, generic: Path) -> None:
    app = create_app(make_settings(db_url, signing_key, edge_image={"path": str(generic)}))
    add_relay(app, "relay-a")
    with test_client(app) as client:
        owner = signup(client, "owner@example.org")
        token_id = _issue(client, owner)
        status = client.get(f"/api/v1/bootstrap-tokens/{token_id}/image.xz/checksum", headers=owner.auth)
        assert status.status_code == 503 and status.json()["error"]["code"] == "edge_image_unavailable"
        assert "edge_image.xz_cache_dir" in status.json()["error"]["message"]
        assert client.get(f"/api/v1/bootstrap-tokens/{token_id}/image", headers={**owner.auth, "Range": "bytes=0-9"}).status_code == 206


def test_progress_moves_on_a_small_image_every_percent(tmp_path: Path) -> None:
    """The job's progress is written at every whole percent (at least 1 MiB apart, at most 64 MiB): a 24 MiB
    image reports each MiB, not 0 % until it is done (as every 64 MiB did)."""
    image = esp_disk.esp_disk(tmp_path / "guardian-edge.raw", data=bytes(24 << 20))  # zeros: quick to compress
    edge_image.reset_cache()
    seen: list[tuple[int, int]] = []
    parts = edge_image_xz.compress(edge_image.generic_image(image), tmp_path / "xz", on_progress=lambda d, t: seen.append((d, t)))
    assert parts is not None
    total = seen[-1][1]
    assert seen[-1][0] == total and total >= 24 << 20
    done = [d for d, _ in seen]
    assert done == sorted(done) and len(done) >= 20, done
    assert all(b - a <= 2 << 20 for a, b in itertools.pairwise([0, *done])), done  # no step over 2 MiB
