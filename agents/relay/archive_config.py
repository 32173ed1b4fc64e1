"""Settings of the relay's archive upload (the ``[archive]`` section of relay.toml)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from guardian.runtime.config import Section


class ArchiveSettings(Section):
    enabled: bool = Field(False, description="Accept encrypted clips from edges and store them in the object store.")
    spool_dir: Path = Field(
        Path("/var/lib/guardian-relay/archive-spool"),
        description="Where partial uploads are kept until complete (ciphertext only; deleted once stored).",
    )
    endpoint_url: str = Field("", description="S3 endpoint URL of the object store (https in production).")
    bucket: str = Field("guardian-archive", description="Bucket the ciphertext objects go to, keyed by CID.")
    region: str = Field("us-east-1", description="S3 region name (signature scope).")
    access_key_id: str = Field("", description="S3 access key id of the relay's store identity.")
    secret_access_key_file: Path | None = Field(
        None, description="File holding the S3 secret access key (a systemd credential)."
    )
    max_object_bytes: int = Field(4 * 1024**3, ge=1, description="Largest single archived clip accepted.")
    verify_reread: bool = Field(True, description="After the upload, read the object back and check its hash.")
    quota_refresh_s: float = Field(30.0, gt=0, description="How long the cloud's quota answer is reused.")
    report_interval_s: float = Field(10.0, gt=0, description="How often unreported archive records are retried.")

    @model_validator(mode="after")
    def _store_when_enabled(self) -> ArchiveSettings:
        if self.enabled and not (self.endpoint_url and self.access_key_id and self.secret_access_key_file):
            raise ValueError("archive.enabled needs endpoint_url, access_key_id and secret_access_key_file")
        return self
