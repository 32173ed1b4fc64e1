"""Archived clips: records per event, quota use, time-limited download; and the relays' quota query.

The cloud never holds a key or plaintext: an archive record names ciphertext in the S3 store by its CID.
A download is a presigned GET (``archive.download_url_seconds``) that the browser fetches, checks
against the CID, and decrypts with the tenant's secret (docs/archive-format.md).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func

from cloud.api.deps import CloudDep, SignedRelay, TenantDep
from cloud.api.params import PathId, Text
from cloud.api.schemas import ArchiveDownload, ArchivePublic, ArchiveQuota
from cloud.core.db import utcnow
from cloud.core.errors import ApiError, NotFound
from cloud.services.plan import plan_for
from cloud.tables import ArchiveRecord, Tenant

router = APIRouter(prefix="/api/v1/archives", tags=["archives"])
relay_router = APIRouter(prefix="/api/v1/relay", tags=["relay (signed requests)"])


class StoreUnconfigured(ApiError):
    status = 503
    code = "archive_store_unconfigured"


@router.get("", response_model=list[ArchivePublic])
def list_archives(scope: TenantDep, event_id: Annotated[Text | None, Query(max_length=64)] = None,
                  limit: int = Query(200, ge=1, le=1000)) -> list[ArchivePublic]:
    """The tenant's archived clips, newest first; ``event_id`` narrows to one event."""
    stmt = scope.select(ArchiveRecord)
    if event_id:
        stmt = stmt.where(ArchiveRecord.event_id == event_id.lower())
    rows = scope.session.scalars(stmt.order_by(ArchiveRecord.stored_at.desc()).limit(limit))
    return [ArchivePublic.model_validate(r) for r in rows]


def _record(scope: TenantDep, cid: str) -> ArchiveRecord:
    row: ArchiveRecord | None = scope.session.scalars(scope.select(ArchiveRecord).where(ArchiveRecord.cid == cid)).first()
    if row is None:
        raise NotFound("archived clip not found")
    return row


@router.get("/{cid}", response_model=ArchivePublic)
def get_archive(cid: PathId, scope: TenantDep) -> ArchivePublic:
    return ArchivePublic.model_validate(_record(scope, cid))


@router.post("/{cid}/download", response_model=ArchiveDownload)
def download(cid: PathId, scope: TenantDep, cloud: CloudDep) -> ArchiveDownload:
    """A presigned, time-limited URL of the ciphertext (only for a CID this tenant holds)."""
    row = _record(scope, cid)
    s = cloud.settings.archive
    if not s.endpoint_url:
        raise StoreUnconfigured("archive downloads are not configured on this cloud")
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=s.endpoint_url, aws_access_key_id=s.access_key_id,
                          aws_secret_access_key=s.secret_access_key.get_secret_value(), region_name=s.region,
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    now = utcnow()
    url = client.generate_presigned_url("get_object", Params={"Bucket": s.bucket, "Key": row.cid},
                                        ExpiresIn=s.download_url_seconds)
    return ArchiveDownload(url=url, expires_at=now + timedelta(seconds=s.download_url_seconds), cid=row.cid,
                           size=row.size, event_id=row.event_id)


@relay_router.get("/archive-quota", response_model=ArchiveQuota)
def archive_quota(caller: SignedRelay) -> ArchiveQuota:
    """The calling relay's tenant: its plan's archive limit and the bytes its records use."""
    tenant = caller.session.get(Tenant, caller.tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    used = caller.session.scalar(
        func.coalesce(func.sum(ArchiveRecord.size), 0).select().where(ArchiveRecord.tenant_id == tenant.id)
    ) or 0
    return ArchiveQuota(max_archive_bytes=plan_for(tenant.plan).max_archive_bytes, archive_bytes_used=int(used))
