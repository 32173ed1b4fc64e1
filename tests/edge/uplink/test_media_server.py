"""EdgeMedia over real gRPC (loopback): byte ranges, errors, and the relay-only rule."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from agents.edge.uplink.media_server import DirectoryLookup, EdgeMediaService
from guardian.contracts.edge.v1 import media_pb2, media_pb2_grpc


async def _serve(root: Path, allowed_peer: str | None) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    media_pb2_grpc.add_EdgeMediaServicer_to_server(EdgeMediaService(DirectoryLookup(root), allowed_peer), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def _fetch(port: int, **request: object) -> tuple[list[media_pb2.MediaChunk], grpc.StatusCode | None]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = media_pb2_grpc.EdgeMediaStub(channel)
        chunks = []
        try:
            async for chunk in stub.Fetch(media_pb2.MediaRequest(**request)):  # type: ignore[arg-type]
                chunks.append(chunk)
        except grpc.aio.AioRpcError as exc:
            return chunks, exc.code()
        return chunks, None


def test_ranges_and_errors(tmp_path: Path) -> None:
    clip = bytes(range(256)) * 3000  # 768,000 bytes: several 256 KiB chunks
    (tmp_path / "ev-1").mkdir()
    (tmp_path / "ev-1" / "clip.mp4").write_bytes(clip)
    (tmp_path / "ev-1" / "snapshot.jpg").write_bytes(b"\xff\xd8jpeg")

    async def scenario() -> None:
        server, port = await _serve(tmp_path, None)
        try:
            chunks, err = await _fetch(port, event_id="ev-1", kind=media_pb2.MediaRequest.CLIP)
            assert err is None and b"".join(c.data for c in chunks) == clip
            assert chunks[0].total_size == len(clip) and chunks[0].content_type == "video/mp4" and len(chunks) > 1

            chunks, err = await _fetch(port, event_id="ev-1", kind=media_pb2.MediaRequest.CLIP, offset=700_000, length=100_000)
            assert err is None and b"".join(c.data for c in chunks) == clip[700_000:]
            assert chunks[0].offset == 700_000

            chunks, err = await _fetch(port, event_id="ev-1", kind=media_pb2.MediaRequest.SNAPSHOT)
            assert chunks[0].content_type == "image/jpeg" and chunks[0].data == b"\xff\xd8jpeg"

            assert (await _fetch(port, event_id="ev-2", kind=media_pb2.MediaRequest.CLIP))[1] == grpc.StatusCode.NOT_FOUND
            assert (await _fetch(port, event_id="ev-1", kind=media_pb2.MediaRequest.THUMBNAIL))[1] == grpc.StatusCode.NOT_FOUND
            assert (
                await _fetch(port, event_id="ev-1", kind=media_pb2.MediaRequest.CLIP, offset=len(clip))
            )[1] == grpc.StatusCode.OUT_OF_RANGE
            assert (await _fetch(port, event_id="../etc", kind=1))[1] == grpc.StatusCode.INVALID_ARGUMENT
        finally:
            await server.stop(None)

    asyncio.run(scenario())


@pytest.mark.parametrize(("allowed", "expected"), [("127.0.0.1", None), ("10.77.0.1", grpc.StatusCode.PERMISSION_DENIED)])
def test_only_the_relay_may_fetch(tmp_path: Path, allowed: str, expected: grpc.StatusCode | None) -> None:
    (tmp_path / "ev-1").mkdir()
    (tmp_path / "ev-1" / "clip.mp4").write_bytes(b"abc")

    async def scenario() -> grpc.StatusCode | None:
        server, port = await _serve(tmp_path, allowed)
        try:
            return (await _fetch(port, event_id="ev-1", kind=media_pb2.MediaRequest.CLIP))[1]
        finally:
            await server.stop(None)

    assert asyncio.run(scenario()) == expected
