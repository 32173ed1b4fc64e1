"""Settings of the off-site archive on the edge (the ``[archive]`` section of edge.toml)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from guardian.runtime.config import Section


class ArchiveSettings(Section):
    enabled: bool = Field(False, description="Queue and upload encrypted copies of event clips to the relay.")
    cameras: list[str] = Field(default_factory=list, description="Cameras whose events are archived (empty: all).")
    labels: list[str] = Field(default_factory=list, description="Labels whose events are archived (empty: all).")
    key_file: Path | None = Field(
        None, description="The derived archive key, 0600 (default: <storage.data_dir>/archive/archive-key.json)."
    )
    spool_dir: Path | None = Field(
        None, description="Encrypted copies waiting for upload (default: <storage.data_dir>/archive/outgoing)."
    )
    chunk_size: int = Field(1 << 20, ge=1024, le=1 << 24, description="Plaintext bytes per AES-GCM chunk.")
    upload_chunk_bytes: int = Field(256 * 1024, ge=1024, le=4 << 20, description="Bytes per gRPC upload message.")
    relay_target: str | None = Field(
        None, description="host:port of the relay's gRPC server (default: from the enrolment record)."
    )
    scan_interval_s: float = Field(5.0, gt=0, description="How often new events are matched against the policy.")
    backoff_base_s: float = Field(1.0, gt=0, description="First retry delay (doubles per failure, with jitter).")
    backoff_max_s: float = Field(300.0, gt=0, description="Longest retry delay.")
    max_attempts: int = Field(20, ge=1, description="Failed attempts before an item is marked failed.")
    rpc_timeout_s: float = Field(600.0, gt=0, description="Deadline of one upload call.")
