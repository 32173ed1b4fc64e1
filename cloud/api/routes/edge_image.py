"""The personalised edge image download: one pending bootstrap token of the tenant, baked into the image.

The URL names the token by its id (the nonce), never by its text; the browser's download carries the
access cookie like any API call, so only the token's tenant's admins get it (404 for anyone else).
Resumable: HTTP Range (one range) with a strong ETag and If-Range.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from fastapi.responses import StreamingResponse

from cloud.api.deps import CloudDep, TenantAdmin, TenantScope
from cloud.api.params import PathId
from cloud.api.schemas import EdgeImageChecksum, ErrorResponse
from cloud.core.db import utcnow
from cloud.core.errors import ApiError
from cloud.core.state import Cloud
from cloud.services import edge_image
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
    headers = {"Accept-Ranges": "bytes", "ETag": image.etag, "Cache-Control": "private, no-store",
               "Content-Disposition": f'attachment; filename="guardian-edge-{token_id[:8]}.raw"'}
    span = _byte_range(range_header, image.size) if if_range in (None, image.etag) else None
    if span is not None and span[0] >= span[1]:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{image.size}"})
    start, end = span if span is not None else (0, image.size)
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{image.size}"
    headers["Content-Length"] = str(end - start)
    log.info("edge_image_download", tenant=scope.id, token_id=token_id, start=start, end=end)
    return StreamingResponse(image.read(start, end), status_code=206 if span is not None else 200,
                             media_type="application/octet-stream", headers=headers)


@router.get("/{token_id}/image/checksum", response_model=EdgeImageChecksum, responses=_ERRORS)
def image_checksum(token_id: PathId, scope: TenantAdmin, cloud: CloudDep) -> EdgeImageChecksum:
    """Size and SHA-256 of this token's personalised image, to check the downloaded file against.

    Costs one pass over the image the first time (a second or two); cached afterwards."""
    image = _personalised(scope, cloud, token_id)
    return EdgeImageChecksum(size=image.size, sha256=image.sha256(), etag=image.etag)
