"""The personalised edge image download: one pending bootstrap token of the tenant, baked into the image.

The URL names the token by its id (the nonce), never by its text; the browser's download carries the
access cookie like any API call, so only the token's tenant's admins get it (404 for anyone else).
Resumable: HTTP Range (one range) with a strong ETag and If-Range. Two forms: the raw disk image
(``/image``) and the same image as ``.img.xz`` (``/image.xz``, cloud.services.edge_image_xz), whose
status endpoint says whether it is ready (the generic image is compressed once, in the background).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Header, Response
from fastapi.responses import StreamingResponse

from cloud.api.deps import CloudDep, TenantAdmin, TenantScope
from cloud.api.params import PathId
from cloud.api.schemas import EdgeImageChecksum, EdgeImageCompressed, ErrorResponse
from cloud.core.db import utcnow
from cloud.core.errors import ApiError
from cloud.core.state import Cloud
from cloud.services import edge_image, edge_image_xz
from cloud.tables import BootstrapToken
from guardian.runtime.logging import get_logger

router = APIRouter(prefix="/api/v1/bootstrap-tokens", tags=["devices"])
log = get_logger("cloud.edge_image")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such token of this tenant."},
    410: {"model": ErrorResponse, "description": "`token_spent`: the token was used, revoked or has expired."},
    503: {"model": ErrorResponse, "description": "`edge_image_unavailable`: no usable edge image is configured."},
}


class TokenSpent(ApiError):
    status = 410
    code = "token_spent"


def _personalised(scope: TenantScope, cloud: Cloud, token_id: str) -> edge_image.PersonalisedImage:
    row = scope.get(BootstrapToken, token_id, "bootstrap token")
    if row.used_at is not None or row.revoked_at is not None or row.expires_at <= utcnow():
        raise TokenSpent("this token was used, revoked or has expired: create a new one")
    return edge_image.personalised(scope.session, row, cloud.settings, cloud.signing_key)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a single-range ``Range`` header; None: serve it all (absent, several, odd)."""
    match = _RANGE.match(header.replace(" ", "")) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        return max(size - int(last), 0), size
    end = min(int(last) + 1, size) if last else size
    return int(first), end


class _Download(Protocol):
    @property
    def size(self) -> int: ...
    @property
    def etag(self) -> str: ...
    def read(self, start: int, end: int) -> Iterator[bytes]: ...


def _ranged(download: _Download, filename: str, media_type: str, range_header: str | None, if_range: str | None,
            **log_fields: str) -> Response:
    """The whole download, or the one range asked for while the ETag still matches."""
    headers = {"Accept-Ranges": "bytes", "ETag": download.etag, "Cache-Control": "private, no-store",
               "Content-Disposition": f'attachment; filename="{filename}"'}
    span = _byte_range(range_header, download.size) if if_range in (None, download.etag) else None
    if span is not None and span[0] >= span[1]:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{download.size}"})
    start, end = span if span is not None else (0, download.size)
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{download.size}"
    headers["Content-Length"] = str(end - start)
    log.info("edge_image_download", start=start, end=end, media_type=media_type, **log_fields)
    return StreamingResponse(download.read(start, end), status_code=206 if span is not None else 200,
                             media_type=media_type, headers=headers)


@router.get(
    "/{token_id}/image",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The personalised disk image."},
               206: {"description": "The requested part."}, 416: {"description": "Range past the end."}, **_ERRORS},
)
def download_image(
    token_id: PathId, scope: TenantAdmin, cloud: CloudDep,
    range_header: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header()] = None,
) -> Response:
    """The edge image personalised with this pending token (its relay, the token, the relay CA if private).

    Flash it as it is (balenaEtcher, Raspberry Pi Imager, ``dd``); the device enrols on first boot."""
    image = _personalised(scope, cloud, token_id)
    return _ranged(image, f"guardian-edge-{token_id[:8]}.raw", "application/octet-stream", range_header, if_range,
                   tenant=scope.id, token_id=token_id)


@router.get("/{token_id}/image/checksum", response_model=EdgeImageChecksum, responses=_ERRORS)
def image_checksum(token_id: PathId, scope: TenantAdmin, cloud: CloudDep) -> EdgeImageChecksum:
    """Size and SHA-256 of this token's personalised image, to check the downloaded file against.

    Costs one pass over the image the first time (a second or two); cached afterwards."""
    image = _personalised(scope, cloud, token_id)
    return EdgeImageChecksum(size=image.size, sha256=image.sha256(), etag=image.etag)


@router.get(
    "/{token_id}/image.xz",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-xz": {}}, "description": "The personalised disk image, xz-compressed."},
               206: {"description": "The requested part."}, 416: {"description": "Range past the end."},
               **_ERRORS, 503: {"model": ErrorResponse, "description": "`edge_image_unavailable`: no usable edge "
                                "image is configured; `edge_image_preparing`: its compressed form is being made "
                                "(Retry-After)."}},
)
def download_image_xz(
    token_id: PathId, scope: TenantAdmin, cloud: CloudDep,
    range_header: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header()] = None,
) -> Response:
    """The same personalised image as ``.img.xz`` (balenaEtcher and Raspberry Pi Imager take it as it is;
    ``xz -dc FILE | sudo dd of=/dev/sdX``). Ready once the generic image is compressed: see its status."""
    image = edge_image_xz.compressed(_personalised(scope, cloud, token_id), cloud.settings)
    return _ranged(image, f"guardian-edge-{token_id[:8]}.img.xz", "application/x-xz", range_header, if_range,
                   tenant=scope.id, token_id=token_id)


@router.get("/{token_id}/image.xz/checksum", response_model=EdgeImageCompressed, responses=_ERRORS)
def image_xz_checksum(token_id: PathId, scope: TenantAdmin, cloud: CloudDep) -> EdgeImageCompressed:
    """Whether this token's ``.img.xz`` is ready and, once it is, its size and SHA-256.

    The first call for a new generic image starts its compression in the background (minutes for a
    1.4 GB image; ``progress`` tells how far); the checksum then costs one pass over the compressed file."""
    personalised = _personalised(scope, cloud, token_id)
    try:
        image = edge_image_xz.compressed(personalised, cloud.settings)
    except edge_image_xz.CompressedImagePreparing as preparing:
        return EdgeImageCompressed(ready=False, progress=preparing.progress, size=None, sha256=None, etag=None,
                                   image_size=personalised.size)
    return EdgeImageCompressed(ready=True, progress=1.0, size=image.size, sha256=image.sha256(), etag=image.etag,
                               image_size=image.image_size)
