"""Throughput of the personalised edge image download (issue #22) against a plain file download of the
same file, from the same uvicorn server, in the same run.

    .venv/bin/python bench/image_download.py [--size-mib 1024] [--rounds 3]

A generic image (GPT + FAT32 ESP with the enrolment slot, then ``--size-mib`` of random data: random so
nothing is sparse or compressible) is served by the real cloud app under uvicorn (SQLite). Per round, curl
(a separate process, output to /dev/null) fetches:
  plain         the same file through Starlette's FileResponse (a static download: the baseline),
  plain stream  the same file in the download's 1 MiB chunks, nothing substituted (the strict baseline),
  personalised  GET /api/v1/bootstrap-tokens/{id}/image (the slot substituted while streaming),
and the Python reading loop alone (1 MiB reads, no HTTP) is printed for scale. The file is in the page
cache for all of them. Also the first and the cached cost of the checksum endpoint. Medians; nothing is
asserted (goal: personalised ≥ 80 % of plain).
"""

from __future__ import annotations

import argparse
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
from cloud.services import edge_image  # noqa: E402
from guardian.contracts import auth  # noqa: E402
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="image-bench-") as tmp:
        work = Path(tmp)
        image = esp_disk(work / "guardian-edge.raw")
        with image.open("r+b") as f:  # random data over the whole data partition and beyond
            f.seek(0, os.SEEK_END)
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
        size = image.stat().st_size
        db = f"sqlite:///{work / 'cloud.db'}"
        migrate(db)
        app = create_app(make_settings(db, auth.generate_private_key(), edge_image={"path": str(image)}))
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
                start = time.perf_counter()
                http.get(f"/api/v1/bootstrap-tokens/{issued['id']}/image/checksum", headers=owner.auth, timeout=600).raise_for_status()
                first_checksum = time.perf_counter() - start
                start = time.perf_counter()
                http.get(f"/api/v1/bootstrap-tokens/{issued['id']}/image/checksum", headers=owner.auth).raise_for_status()
                cached_checksum = time.perf_counter() - start
            plain, stream, personal, loop = [], [], [], []
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
                loop.append(_read_loop(image))
    mib = size / (1 << 20)
    rate = {name: mib / statistics.median(times) for name, times in
            (("plain", plain), ("plain stream", stream), ("personalised", personal), ("read loop", loop))}
    print(f"image: {mib:.0f} MiB, {args.rounds} rounds (medians), {os.cpu_count()} cores")
    for name, value in rate.items():
        print(f"  {name:<13} {value:8.0f} MiB/s")
    print(f"  personalised / plain: {100 * rate['personalised'] / rate['plain']:.0f} % (goal >= 80 %); "
          f"/ plain stream: {100 * rate['personalised'] / rate['plain stream']:.0f} %")
    print(f"  checksum: first {first_checksum:.2f} s ({mib / first_checksum:.0f} MiB/s), cached {cached_checksum * 1000:.1f} ms")


if __name__ == "__main__":
    main()
