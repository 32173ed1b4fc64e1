"""The relay's update mirror (issue #19) as edges use it: the edge's own downloader, systemd-pull (what
systemd-sysupdate runs for a ``url-file`` source), fetches signed release files through the mirror, which
runs as its own process and caches them from an origin HTTP server. Faults: a tampered file at the origin,
a bad signature, the origin down, the mirror killed with SIGKILL mid-download, a wave of edges at once, a
version no longer released. The last test runs the real relay agent with its edge enrolled over WireGuard
in network namespaces: the mirror answers on the tunnel address only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.relay import release_files
from tests.relay.mirror_process import MirrorProcess
from tests.relay.netlab import RELAY_PUBLIC, RELAY_TUNNEL, wait_for
from tests.relay.release_files import SYSTEMD_PULL, Origin, ReleaseKey, pull

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "guardian-edge"
LAB_PORT = 8480


def _requirements() -> str | None:
    if os.geteuid() != 0:
        return "systemd-pull's keyring is bind-mounted in a mount namespace: needs root"
    if SYSTEMD_PULL is None:
        return "systemd-pull not installed (systemd-container, scripts/setup.d/60-images.sh)"
    for tool in ("unshare", "gpg"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return None


pytestmark = pytest.mark.skipif(_requirements() is not None, reason=str(_requirements()))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReleaseKey, ReleaseKey]]:
    """The release key the edges trust, and another one."""
    base = tmp_path_factory.mktemp("keys")
    pair = ReleaseKey(base / "release"), ReleaseKey(base / "other")
    yield pair
    for key in pair:
        key.close()


def publish(root: Path, key: ReleaseKey, files: dict[str, bytes]) -> None:
    release_files.publish(root, IMAGE, key, files)


def version_file(version: str) -> str:
    return release_files.version_file(IMAGE, version)


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[Origin]:
    server = Origin(tmp_path / "origin")
    server.root.mkdir()
    server.start()
    yield server
    server.stop()


# -- the mirror: tests/relay/mirror_process.py, a process of its own -------------------------------------------

@pytest.fixture
def make_mirror(tmp_path: Path) -> Iterator[Any]:
    mirrors: list[MirrorProcess] = []

    def factory(origin_url: str, **settings: object) -> MirrorProcess:
        mirror = MirrorProcess(tmp_path, {"origin": origin_url, **settings})
        mirror.start()
        mirrors.append(mirror)
        return mirror

    yield factory
    for mirror in mirrors:
        mirror.stop()
    if mirrors:
        print(f"===== mirror log =====\n{mirrors[0].log.read_text()[-4000:]}")  # shown when the test failed


# -- the tests ---------------------------------------------------------------------------------------------

def test_edges_pull_a_signed_release_through_the_mirror_which_asks_the_origin_once(
    tmp_path: Path, keys: tuple[ReleaseKey, ReleaseKey], origin: Origin, make_mirror: Any
) -> None:
    release, _ = keys
    uki = os.urandom(3_000_000)
    publish(origin.root, release, {version_file("0.2.0"): uki, version_file("0.1.0"): os.urandom(1000)})
    mirror = make_mirror(origin.url)
    url = f"{mirror.url}{IMAGE}/{version_file('0.2.0')}"
    for edge in ("edge-1", "edge-2"):
        result = pull(url, tmp_path / f"{edge}.efi", release.pubring)
        assert result.returncode == 0, result.stderr
        assert "Signature verification succeeded" in result.stderr
        assert (tmp_path / f"{edge}.efi").read_bytes() == uki
    assert origin.asked(version_file("0.2.0")) == 1  # the second edge got the cached copy
    assert origin.asked("SHA256SUMS") == 1 and origin.asked("SHA256SUMS.gpg") == 1  # within the index's TTL
    assert mirror.objects() == [hashlib.sha256(uki).hexdigest()]


def test_a_wave_of_edges_shares_one_download_from_the_origin(
    tmp_path: Path, keys: tuple[ReleaseKey, ReleaseKey], origin: Origin, make_mirror: Any
) -> None:
    release, _ = keys
    uki = os.urandom(4_000_000)
    publish(origin.root, release, {version_file("0.2.0"): uki})
    origin.delay_per_chunk = 0.02  # ~1.2 s for the file: the edges arrive while it is coming
    mirror = make_mirror(origin.url)
    url = f"{mirror.url}{IMAGE}/{version_file('0.2.0')}"
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda i: pull(url, tmp_path / f"edge-{i}.efi", release.pubring), range(5)))
    for i, result in enumerate(results):
        assert result.returncode == 0, result.stderr
        assert (tmp_path / f"edge-{i}.efi").read_bytes() == uki
    assert origin.asked(version_file("0.2.0")) == 1


def test_a_tampered_file_is_neither_cached_nor_delivered_whole(
    tmp_path: Path, keys: tuple[ReleaseKey, ReleaseKey], origin: Origin, make_mirror: Any
) -> None:
    release, _ = keys
    name = version_file("0.2.0")
    publish(origin.root, release, {name: os.urandom(2_000_000)})
    tampered = bytearray((origin.root / IMAGE / name).read_bytes())
    tampered[1_000_000] ^= 0xFF
    (origin.root / IMAGE / name).write_bytes(tampered)
    mirror = make_mirror(origin.url)

    result = pull(f"{mirror.url}{IMAGE}/{name}", tmp_path / "edge.efi", release.pubring)
    assert result.returncode != 0
    with pytest.raises(httpx.RemoteProtocolError):  # the last byte never comes: the transfer ends short
        httpx.get(f"{mirror.url}{IMAGE}/{name}", timeout=30)
    assert mirror.objects() == []  # nothing cached, no partial file left
    assert origin.asked(name) == 2  # each request asked the origin again
    assert "does not match its SHA-256" in mirror.log.read_text()


def test_a_release_signed_by_another_key_is_refused_by_the_edge(
    tmp_path: Path, keys: tuple[ReleaseKey, ReleaseKey], origin: Origin, make_mirror: Any
) -> None:
    release, other = keys
    publish(origin.root, other, {version_file("0.2.0"): os.urandom(100_000)})
    mirror = make_mirror(origin.url)
    result = pull(f"{mirror.url}{IMAGE}/{version_file('0.2.0')}", tmp_path / "edge.efi", release.pubring)
    assert result.returncode != 0
    assert "Signature verification succeeded" not in result.stderr


def test_with_the_origin_down_the_stored_index_and_files_are_still_served(
    tmp_path: Path, keys: tuple[ReleaseKey, ReleaseKey], origin: Origin, make_mirror: Any
) -> None:
    release, _ = keys
    cached, uncached = version_file("0.2.0"), version_file("0.1.0")
    publish(origin.root, release, {cached: os.urandom(500_000), uncached: os.urandom(500_000)})
    mirror = make_mirror(origin.url, index_ttl_s=0.5)
    assert pull(f"{mirror.url}{IMAGE}/{cached}", tmp_path / "first.efi", release.pubring).returncode == 0
    origin.stop()
    mirror.stop()
    mirror.start()  # a restarted relay, the origin unreachable: the index comes from its disk
    result = pull(f"{mirror.url}{IMAGE}/{cached}", tmp_path / "again.efi", release.pubring)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "again.efi").read_bytes() == (origin.root / IMAGE / cached).read_bytes()
    answer = httpx.get(f"{mirror.url}{IMAGE}/{uncached}", timeout=30)
    assert answer.status_code == 502 and answer.json()["error"] == "origin_error"
    assert "update_origin_unreachable" in mirror.log.read_text()


def test_the_mirror_serves_only_what_the_release_lists(
    tmp_path: Path, keys: tuple[ReleaseKey, ReleaseKey], origin: Origin, make_mirror: Any
) -> None:
    release, _ = keys
    publish(origin.root, release, {version_file("0.2.0"): b"x" * 1000})
    (origin.root / IMAGE / "unlisted.raw").write_bytes(b"not in the index")
    (origin.root / "other-image").mkdir()
    mirror = make_mirror(origin.url)
    for path in (f"{IMAGE}/unlisted.raw", "other-image/SHA256SUMS", f"{IMAGE}/.hidden", f"{IMAGE}/..%2Fx",
                 f"{IMAGE}/a/b"):
        answer = httpx.get(mirror.url + path, timeout=10)
        assert answer.status_code == 404, path
    assert "/other-image/SHA256SUMS" not in origin.paths and origin.asked("unlisted.raw") == 0

    empty = make_mirror(origin.url, cache_dir=str(tmp_path / "empty-cache"))  # nothing stored yet
    answer = httpx.get(f"{empty.url}guardian-relay/SHA256SUMS", timeout=30)  # served, but not published
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"
    origin.stop()
    answer = httpx.get(f"{empty.url}{IMAGE}/SHA256SUMS", timeout=30)
    assert answer.status_code == 502 and answer.json()["error"] == "origin_error"


def test_a_version_no_longer_released_leaves_the_cache(
    tmp_path: Path, keys: tuple[ReleaseKey, ReleaseKey], origin: Origin, make_mirror: Any
) -> None:
    release, _ = keys
    old, new = os.urandom(200_000), os.urandom(200_000)
    publish(origin.root, release, {version_file("0.1.0"): old})
    mirror = make_mirror(origin.url, index_ttl_s=0.2)
    assert pull(f"{mirror.url}{IMAGE}/{version_file('0.1.0')}", tmp_path / "a.efi", release.pubring).returncode == 0
    assert mirror.objects() == [hashlib.sha256(old).hexdigest()]
    publish(origin.root, release, {version_file("0.2.0"): new})
    time.sleep(0.3)
    assert pull(f"{mirror.url}{IMAGE}/{version_file('0.2.0')}", tmp_path / "b.efi", release.pubring).returncode == 0
    assert mirror.objects() == [hashlib.sha256(new).hexdigest()]


def test_a_mirror_killed_mid_download_leaves_nothing_half_written(
    tmp_path: Path, keys: tuple[ReleaseKey, ReleaseKey], origin: Origin, make_mirror: Any
) -> None:
    release, _ = keys
    uki = os.urandom(4_000_000)
    name = version_file("0.2.0")
    publish(origin.root, release, {name: uki})
    origin.delay_per_chunk = 0.05  # ~3 s for the file
    mirror = make_mirror(origin.url)
    with ThreadPoolExecutor(1) as pool:
        edge = pool.submit(pull, f"{mirror.url}{IMAGE}/{name}", tmp_path / "cut.efi", release.pubring)
        wait_for(lambda: any(p.startswith(".partial-") for p in mirror.objects()), 30, "the download to begin")
        time.sleep(0.5)
        mirror.stop(signal.SIGKILL)
        assert edge.result().returncode != 0  # the edge's transfer failed; it tries again next time
    partial_files = [p for p in mirror.objects() if p.startswith(".partial-")]
    assert partial_files, "the kill should have left a partial file for the restart to clean"
    origin.delay_per_chunk = 0.0
    mirror.start()
    assert not [p for p in mirror.objects() if p.startswith(".partial-")]
    result = pull(f"{mirror.url}{IMAGE}/{name}", tmp_path / "edge.efi", release.pubring)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "edge.efi").read_bytes() == uki
    assert mirror.objects() == [hashlib.sha256(uki).hexdigest()]


def test_the_relay_serves_updates_to_its_edges_on_the_tunnel_address_only(
    tmp_path: Path, keys: tuple[ReleaseKey, ReleaseKey], make_lab: Any
) -> None:
    release, _ = keys
    uki = os.urandom(1_000_000)
    root = tmp_path / "origin"
    publish(root, release, {version_file("0.2.0"): uki})
    lab = make_lab(cloud=False, relay_overrides={
        "updates": {"enabled": True, "origin": "http://127.0.0.1:8999/", "cache_dir": tmp_path / "relay-updates"},
    })
    # The origin, on the relay namespace's loopback (where a relay reaches the internet in this lab).
    lab.start_process("origin", lab.ns_relay, [sys.executable, "-m", "http.server", "8999", "--bind", "127.0.0.1",
                                        "--directory", str(root)])
    lab.start_relay()
    result = lab.enrol(lab.token())
    assert result.returncode == 0, result.stderr
    lab.start_edge()
    wait_for(lambda: lab.port_open(lab.ns_edge, RELAY_TUNNEL, LAB_PORT), 60, "the mirror through the tunnel")
    result = pull(f"http://{RELAY_TUNNEL}:{LAB_PORT}/{IMAGE}/{version_file('0.2.0')}", tmp_path / "edge.efi",
                  release.pubring, netns=lab.ns_edge)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "edge.efi").read_bytes() == uki
    assert not lab.port_open(lab.ns_edge, RELAY_PUBLIC, LAB_PORT)  # nothing on the relay's public address
