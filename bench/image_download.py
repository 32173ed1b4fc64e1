"""Throughput of the personalised edge image download (issue #22) against a plain file download of the
same file, from the same uvicorn server, in the same run; and of its .img.xz form.

    .venv/bin/python bench/image_download.py [--size-mib 1024] [--rounds 3] [--content random|mixed]

A generic image (GPT + FAT32 ESP with the enrolment slot, then ``--size-mib`` of data) is served by the real
cloud app under uvicorn (SQLite). ``random`` data: nothing is sparse or compressible (the stream's worst
case, and xz's: its slowest compression, no gain). ``mixed``: per 10 MiB, 6 of zeros (an image's free space
and padding), 3 of the host's /usr/lib files (binaries) and 1 of random (already compressed files).
First, once: the generic image's compressed parts are made (what the cloud does once per image; timed).
Per round, curl (a separate process, output to /dev/null) fetches:
  plain         the same file through Starlette's FileResponse (a static download: the baseline),
  plain stream  the same file in the download's 1 MiB chunks, nothing substituted (the strict baseline),
  personalised  GET /api/v1/bootstrap-tokens/{id}/image (the slot substituted while streaming),
  xz            GET /api/v1/bootstrap-tokens/{id}/image.xz (the parts + this token's slot compressed),
                as MiB/s of compressed bytes and of image bytes delivered (image size / time),
and the Python reading loop alone (1 MiB reads, no HTTP) is printed for scale. The files are in the page
cache for all of them. Also the first and the cached cost of both checksum endpoints, and the per-download
cost of the .img.xz (compressing the slot). Medians; nothing is asserted (goal: personalised ≥ 80 % of plain).
"""

from __future__ import annotations

import argparse
import itertools
import lzma
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.responses import FileResponse, StreamingResponse  # noqa: E402

from cloud.api.main import create_app  # noqa: E402
from cloud.core.db import migrate  # noqa: E402
from cloud.services import edge_image, edge_image_xz  # noqa: E402
from guardian.contracts import auth, enrol_slot  # noqa: E402
from tests.cloud.conftest import add_relay, make_settings, signup  # noqa: E402
from tests.cloud.servers import serve  # noqa: E402
from tests.images.esp_disk import esp_disk  # noqa: E402


def _curl(url: str, token: str | None = None) -> tuple[float, int]:
    """(seconds, bytes) of one download with curl into /dev/null."""
    headers = ["-H", f"Authorization: Bearer {token}"] if token else []
    out = subprocess.run(["curl", "-sS", "-f", "-o", os.devnull, "-w", "%{time_total} %{size_download}", *headers, url],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def _chunks(path: Path) -> Iterator[bytes]:
    """The file in the download's chunks, nothing substituted: the stream without its one extra step."""
    with path.open("rb", buffering=0) as f:
        while block := f.read(edge_image.CHUNK):
            yield block


def _library_bytes() -> Iterator[bytes]:
    """The host's /usr/lib files in 1 MiB blocks, round and round (binaries, as an image's /usr holds)."""
    files = sorted(p for p in Path("/usr/lib").rglob("*") if p.is_file() and not p.is_symlink())
    buffer = b""
    for path in itertools.cycle(files):
        try:
            buffer += path.read_bytes()
        except OSError:
            continue
        while len(buffer) >= 1 << 20:
            yield buffer[:1 << 20]
            buffer = buffer[1 << 20:]


def _data_blocks(content: str) -> Iterator[bytes]:
    library = _library_bytes()
    for i in itertools.count():
        if content == "random" or i % 10 == 9:
            yield os.urandom(1 << 20)
        elif i % 10 < 6:
            yield bytes(1 << 20)
        else:
            yield next(library)


def _read_loop(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb", buffering=0) as f:
        while f.read(edge_image.CHUNK):
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="random data after the ESP (MiB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--content", choices=("random", "mixed"), default="random", help="the data after the ESP")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="image-bench-") as tmp:
        work = Path(tmp)
        image = esp_disk(work / "guardian-edge.raw")
        with image.open("r+b") as f:  # over the whole data partition and beyond
            f.seek(0, os.SEEK_END)
            for block in itertools.islice(_data_blocks(args.content), args.size_mib):
                f.write(block)
        size = image.stat().st_size
        db = f"sqlite:///{work / 'cloud.db'}"
        migrate(db)
        start = time.perf_counter()
        parts = edge_image_xz.compress(edge_image.generic_image(image), work / "xz")
        compress_s = time.perf_counter() - start
        assert parts is not None
        xz_parts = parts.prefix.size + parts.suffix.size
        app = create_app(make_settings(db, auth.generate_private_key(),
                                       edge_image={"path": str(image), "xz_cache_dir": str(work / "xz")}))
        app.add_api_route("/bench/plain", lambda: FileResponse(image), methods=["GET"])
        app.add_api_route("/bench/stream", lambda: StreamingResponse(_chunks(image)), methods=["GET"])
        add_relay(app, "relay-a")
        _read_loop(image)  # into the page cache
        with serve(app) as base:
            import httpx

            with httpx.Client(base_url=base) as http:
                owner = signup(http, "bench@example.org", app=app)
                issued = http.post("/api/v1/bootstrap-tokens", json={"label": "bench"}, headers=owner.auth).json()
                url = f"{base}/api/v1/bootstrap-tokens/{issued['id']}/image"
                checksums: dict[str, tuple[float, float]] = {}
                for name in ("image", "image.xz"):
                    timed = []
                    for _ in range(2):  # the first, then the cached
                        start = time.perf_counter()
                        answer = http.get(f"/api/v1/bootstrap-tokens/{issued['id']}/{name}/checksum", headers=owner.auth, timeout=600)
                        answer.raise_for_status()
                        timed.append(time.perf_counter() - start)
                    checksums[name] = (timed[0], timed[1])
                xz_size = int(answer.json()["size"])
            # A slot as a download carries it: a 382-character token and a private relay CA.
            conf = enrol_slot.render_conf("relay-1.example.org:443", "t" * 382, relay_ca_pem=os.urandom(600))
            personalised = edge_image.PersonalisedImage(edge_image.generic_image(image), enrol_slot.render_slot(conf))
            slot = b"".join(personalised.read(*parts.span))
            start = time.perf_counter()
            for _ in range(100):
                lzma.compress(slot, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=edge_image_xz.PRESET)
            slot_ms = (time.perf_counter() - start) * 10
            plain, stream, personal, xz, loop = [], [], [], [], []
            for _ in range(args.rounds):
                seconds, got = _curl(f"{base}/bench/plain")
                assert got == size
                plain.append(seconds)
                seconds, got = _curl(f"{base}/bench/stream")
                assert got == size
                stream.append(seconds)
                seconds, got = _curl(url, owner.token)
                assert got == size
                personal.append(seconds)
                seconds, got = _curl(f"{url}.xz", owner.token)
                assert got == xz_size
                xz.append(seconds)
                loop.append(_read_loop(image))
    mib, xz_mib = size / (1 << 20), xz_size / (1 << 20)
    rate = {name: mib / statistics.median(times) for name, times in
            (("plain", plain), ("plain stream", stream), ("personalised", personal), ("read loop", loop))}
    xz_seconds = statistics.median(xz)
    print(f"image: {mib:.0f} MiB ({args.content}), .img.xz {xz_mib:.0f} MiB ({100 * xz_size / size:.1f} %), "
          f"{args.rounds} rounds (medians), {os.cpu_count()} cores")
    for name, value in rate.items():
        print(f"  {name:<13} {value:8.0f} MiB/s")
    print(f"  {'xz':<13} {xz_mib / xz_seconds:8.0f} MiB/s of .img.xz = {mib / xz_seconds:.0f} MiB/s of image delivered")
    print(f"  personalised / plain: {100 * rate['personalised'] / rate['plain']:.0f} % (goal >= 80 %); "
          f"/ plain stream: {100 * rate['personalised'] / rate['plain stream']:.0f} %")
    print(f"  xz / plain: {100 * xz_mib / xz_seconds / rate['plain']:.0f} % in bytes sent, "
          f"{100 * mib / xz_seconds / rate['plain']:.0f} % in image bytes delivered")
    print(f"  one-off compression of the generic image: {compress_s:.1f} s ({mib / compress_s:.1f} MiB/s of image, "
          f"one core), parts {xz_parts / (1 << 20):.1f} MiB; per download: the slot's stream {slot_ms:.2f} ms")
    for name, (first, cached) in checksums.items():
        print(f"  checksum {name:<8}: first {first:.2f} s, cached {cached * 1000:.1f} ms")


if __name__ == "__main__":
    main()
