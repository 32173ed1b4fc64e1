"""Edge → relay → SeaweedFS → cloud, all real: an event's clip is encrypted on the edge, uploaded through
the relay's Archive gRPC service (in-process server on loopback; no WireGuard here), stored under its
CID in SeaweedFS, recorded in the cloud, downloadable through a presigned URL, and opens only with the
secret. Also: resume after an interruption, the quota, and the secret never reaching relay or cloud."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import grpc
import httpx
import pytest

from agents.edge.archive import queue
from agents.edge.archive.config import ArchiveSettings
from agents.edge.archive.crypto import decrypt_bytes
from agents.edge.archive.keystore import load_kek, set_secret
from agents.edge.archive.uploader import ArchiveUploader
from agents.edge.db import open_database as open_edge_db
from agents.edge.db.tables import ArchiveItem
from agents.relay.archive import ArchiveService, CloudArchiveApi
from agents.relay.archive_store import S3ObjectStore, cid_of_bytes
from agents.relay.db import open_database as open_relay_db
from cloud.api.main import create_app
from cloud.core.db import migrate
from cloud.services import plan as plans
from guardian.contracts.edge.v1 import archive_pb2, archive_pb2_grpc
from guardian.runtime.logging import configure_logging
from guardian.runtime.metrics import AgentMetrics
from tests.archive.conftest import (
    BUCKET,
    READER_KEY,
    READER_SECRET,
    RELAY_KEY,
    RELAY_SECRET,
    Seaweed,
    add_clip_event,
)
from tests.cloud.conftest import add_relay, make_settings, signup
from tests.cloud.servers import serve
from tests.conftest import free_port

pytestmark = pytest.mark.slow

SECRET = "Winter-orchard 7 lanterns & a quiet fox"
DEVICE = "edge-porch-01"


@dataclass
class World:
    tmp: Path
    seaweed: Seaweed
    cloud_url: str
    cloud_app: Any
    member: Any
    edge_sessions: Any
    uploader: ArchiveUploader
    service: ArchiveService
    channel: grpc.aio.Channel
    requests: list[bytes] = field(default_factory=list)  # every relay → cloud request, headers and body

    @property
    def data_dir(self) -> Path:
        return self.tmp / "edge"

    def item(self, event_id: str) -> ArchiveItem:
        with self.edge_sessions() as session:
            row = session.get(ArchiveItem, event_id)
            assert row is not None
            return row

    def clip(self, event_id: str) -> bytes:
        return next((self.data_dir / "media" / "clips").rglob(f"{event_id}.mp4")).read_bytes()

    def cloud(self, method: str, path: str) -> httpx.Response:
        with httpx.Client(base_url=self.cloud_url) as client:
            return client.request(method, path, headers=self.member.auth)


@pytest.fixture
def cloud_app(tmp_path: Path) -> Any:
    from guardian.contracts import auth

    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(url)
    settings = make_settings(url, auth.generate_private_key(), archive={
        "endpoint_url": "", "access_key_id": READER_KEY, "secret_access_key": READER_SECRET})
    return create_app(settings)


@pytest.fixture
def cloud_url(cloud_app: Any) -> Iterator[str]:
    with serve(cloud_app) as url:
        yield url


@contextlib.asynccontextmanager
async def world(tmp: Path, seaweed: Seaweed, cloud_app: Any, cloud_url: str, footage: Path,
                chunk: int = 256 * 1024) -> AsyncIterator[World]:
    relay = add_relay(cloud_app, "relay-home")
    with httpx.Client(base_url=cloud_url) as client:
        member = signup(client, "owner@home.example.org", tenant="Home", app=cloud_app)

    # Relay: its database, the real S3 store, the cloud API with the relay's signing key.
    _engine, relay_sessions = open_relay_db(tmp / "relay" / "relay.db")
    requests: list[bytes] = []

    async def record(request: httpx.Request) -> None:
        requests.append(str(request.url).encode() + repr(request.headers.raw).encode() + request.content)

    http = httpx.AsyncClient(base_url=cloud_url, event_hooks={"request": [record]})
    api = CloudArchiveApi(http, relay.key, relay.id)
    store = S3ObjectStore(seaweed.endpoint, BUCKET, RELAY_KEY, RELAY_SECRET)
    service = ArchiveService(relay_sessions, store, api, api, lambda _ctx: DEVICE, tmp / "relay" / "spool",
                             AgentMetrics("relay"), quota_refresh_s=0.01)
    server = grpc.aio.server()
    archive_pb2_grpc.add_ArchiveServicer_to_server(service, server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    await server.start()

    # Edge: database with the archive queue, the derived key (the secret itself is dropped).
    _edge_engine, edge_sessions = open_edge_db(tmp / "edge" / "edge.db")
    key_file = tmp / "edge" / "archive" / "archive-key.json"
    set_secret(key_file, SECRET)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    policy = ArchiveSettings(enabled=True, cameras=["porch"], labels=["person", "car"], upload_chunk_bytes=chunk,
                             backoff_base_s=0.01, backoff_max_s=0.05)
    uploader = ArchiveUploader(edge_sessions, tmp / "edge", policy, lambda: load_kek(key_file), channel,
                               AgentMetrics("edge"))
    try:
        yield World(tmp, seaweed, cloud_url, cloud_app, member, edge_sessions, uploader, service, channel, requests)
    finally:
        await channel.close()
        await server.stop(grace=0.5)
        await http.aclose()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of relay, cloud and edge code in this process (JSON, DEBUG and up)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    configure_logging("DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_clip_archived_end_to_end(tmp_path, seaweed, cloud_app, cloud_url, footage_mp4, captured_logs,
                                  capfd) -> None:
    seaweed.empty()

    async def main() -> tuple[World, str, str]:
        async with world(tmp_path, seaweed, cloud_app, cloud_url, footage_mp4) as w:
            archived = add_clip_event(w.edge_sessions, w.data_dir, footage_mp4)
            skipped = add_clip_event(w.edge_sessions, w.data_dir, footage_mp4, camera="garage")  # not in policy
            await w.uploader.run_once()
            return w, archived, skipped

    w, event_id, skipped = asyncio.run(main())
    item = w.item(event_id)
    assert item.status == "stored", item.reason
    with w.edge_sessions() as session:
        assert session.get(ArchiveItem, skipped) is None  # the policy selects cameras and labels

    # The store holds exactly one object, named by the CID of its own bytes.
    assert seaweed.keys() == [item.cid]
    blob = seaweed.client().get_object(Bucket=BUCKET, Key=item.cid)["Body"].read()
    assert cid_of_bytes(blob) == item.cid and len(blob) == item.size
    assert not list((tmp_path / "relay" / "spool").rglob("*.part"))  # temp copy gone
    assert not list((tmp_path / "edge" / "archive" / "outgoing").glob("*"))  # edge spool copy gone

    # It does not contain the clip's bytes and is not playable.
    plain = w.clip(event_id)
    for start in (0, 4096, len(plain) // 3, len(plain) // 2, len(plain) - 64):
        assert plain[start:start + 32] not in blob
    assert b"ftyp" not in blob[:4096] and b"mdat" not in blob
    (tmp_path / "object.mp4").write_bytes(blob)
    with pytest.raises(av.error.FFmpegError), av.open(str(tmp_path / "object.mp4")) as container:
        next(container.decode(video=0))

    # The secret (and only it) opens it, to exactly the original bytes.
    assert decrypt_bytes(blob, SECRET) == plain

    # The cloud has the record and the quota use; the presigned download is that very object.
    records = w.cloud("GET", f"/api/v1/archives?event_id={event_id}").json()
    assert [(r["cid"], r["size"], r["device_id"]) for r in records] == [(item.cid, item.size, DEVICE)]
    assert w.cloud("GET", "/api/v1/tenant/plan").json()["archive_bytes_used"] == item.size
    w.cloud_app.state.cloud.settings.archive.endpoint_url = seaweed.endpoint
    link = w.cloud("POST", f"/api/v1/archives/{item.cid}/download").json()
    fetched = httpx.get(link["url"]).content
    assert hashlib.sha256(fetched).digest() == hashlib.sha256(blob).digest()

    # The secret never reached the relay or the cloud: not in their databases, logs or requests.
    out, err = capfd.readouterr()
    kek = load_kek(tmp_path / "edge" / "archive" / "archive-key.json").key
    needles = {"secret": SECRET.encode(), "secret (hex)": SECRET.encode().hex().encode(),
               "secret (base64)": base64.b64encode(SECRET.encode()), "key (raw)": kek,
               "key (hex)": kek.hex().encode(), "key (base64)": base64.b64encode(kek)}
    dumps = {
        "relay db": "\n".join(sqlite3.connect(tmp_path / "relay" / "relay.db").iterdump()).encode(),
        "cloud db": "\n".join(sqlite3.connect(tmp_path / "cloud.db").iterdump()).encode(),
        "logs": (captured_logs.getvalue() + out + err).encode(),
        "relay → cloud requests": b"\n".join(w.requests),
        "object": blob,
        "store log": seaweed.log.read_bytes(),
    }
    assert item.cid.encode() in dumps["cloud db"] and b"archive_stored" in dumps["logs"]  # we did capture them
    assert len(w.requests) >= 2
    leaks = [f"{what} in {where}" for what, needle in needles.items() for where, text in dumps.items() if needle in text]
    assert not leaks, leaks


def test_upload_resumes_after_interruption(tmp_path, seaweed, cloud_app, cloud_url, footage_mp4) -> None:
    seaweed.empty()

    async def main() -> tuple[World, str, int, float]:
        async with world(tmp_path, seaweed, cloud_app, cloud_url, footage_mp4, chunk=64 * 1024) as w:
            event_id = add_clip_event(w.edge_sessions, w.data_dir, footage_mp4)
            await asyncio.to_thread(w.uploader.scan)
            with w.edge_sessions() as session:
                item = session.get(ArchiveItem, event_id)
            item = await asyncio.to_thread(w.uploader._encrypt, item)
            assert item is not None and item.status == "uploading"

            # Send ~40 % of the ciphertext, then the link drops (the call is cancelled mid-stream).
            stub = archive_pb2_grpc.ArchiveStub(w.channel)
            cut = int(item.size * 0.4)

            async def partial() -> AsyncIterator[archive_pb2.ArchiveChunk]:
                data = Path(item.ciphertext).read_bytes()[:cut]
                for offset in range(0, cut, 64 * 1024):
                    yield archive_pb2.ArchiveChunk(upload_id=item.upload_id, event_id=event_id,
                                                   total_size=item.size, offset=offset,
                                                   data=data[offset:offset + 64 * 1024])
                await asyncio.sleep(3600)

            call = stub.Upload(partial())
            request = archive_pb2.ArchiveStatusRequest(upload_id=item.upload_id)
            for _ in range(500):
                if (await stub.Status(request)).received >= cut:
                    break
                await asyncio.sleep(0.02)
            call.cancel()
            await asyncio.sleep(0.2)
            held = (await stub.Status(request)).received
            assert 0 < held <= item.size and seaweed.keys() == []  # nothing in the store yet

            before = w.uploader.sent._value.get()
            assert await w.uploader.process(w.item(event_id)) == "stored"
            resent = w.uploader.sent._value.get() - before
            return w, event_id, held, resent

    w, event_id, held, resent = asyncio.run(main())
    item = w.item(event_id)
    assert resent == item.size - held  # only the missing tail was sent again
    blob = seaweed.client().get_object(Bucket=BUCKET, Key=item.cid)["Body"].read()
    assert cid_of_bytes(blob) == item.cid
    assert decrypt_bytes(blob, SECRET) == w.clip(event_id)


def test_over_quota_upload_refused_and_nothing_partial_stored(tmp_path, seaweed, cloud_app, cloud_url, footage_mp4,
                                                             monkeypatch) -> None:
    seaweed.empty()
    first_size = footage_mp4.stat().st_size + 102 + 16 * 8  # 7.2 MiB clip: 8 chunks of 1 MiB
    monkeypatch.setitem(plans.PLANS, "free", plans.Plan(name="free", max_cameras=4,
                                                        max_archive_bytes=first_size + 1_000_000, retention_days=7))

    async def main() -> tuple[World, str, str]:
        async with world(tmp_path, seaweed, cloud_app, cloud_url, footage_mp4) as w:
            first = add_clip_event(w.edge_sessions, w.data_dir, footage_mp4)
            assert await w.uploader.process(await asyncio.to_thread(_queued, w, first)) == "stored"
            second = add_clip_event(w.edge_sessions, w.data_dir, footage_mp4, label="car")
            assert await w.uploader.process(await asyncio.to_thread(_queued, w, second)) == "over_quota"
            return w, first, second

    w, first, second = asyncio.run(main())
    stored, refused = w.item(first), w.item(second)
    assert stored.size == first_size
    assert "quota" in refused.reason and str(first_size + 1_000_000) in refused.reason, refused.reason
    assert seaweed.keys() == [stored.cid]  # nothing of the refused clip in the store
    assert not list((tmp_path / "relay" / "spool").rglob("*.part"))
    assert w.cloud("GET", "/api/v1/tenant/plan").json()["archive_bytes_used"] == stored.size

    # The queue shows both outcomes through the CLI's view of it.
    with w.edge_sessions() as session:
        assert {i.event_id: i.status for i in queue.items(session)} == {first: "stored", second: "over_quota"}


def _queued(w: World, event_id: str) -> ArchiveItem:
    w.uploader.scan()
    return w.item(event_id)


def test_kek_file_alone_is_not_the_secret(tmp_path) -> None:
    """What the edge keeps opens clips but is not the secret: a fresh derivation needs the secret."""
    key_file = tmp_path / "k.json"
    kek = set_secret(key_file, SECRET)
    assert SECRET not in key_file.read_text()
    blob = io.BytesIO()
    from agents.edge.archive.crypto import encrypt_stream

    encrypt_stream(io.BytesIO(b"x" * 5000), blob, kek, 1024)
    assert decrypt_bytes(blob.getvalue(), SECRET) == b"x" * 5000
