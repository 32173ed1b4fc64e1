"""Cameras as the edges report them; members see them, admins rename them."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import CloudDep, TenantAdmin, TenantDep
from cloud.api.params import PathId
from cloud.api.schemas import CameraPublic, CameraUpdate
from cloud.services import device_config
from cloud.tables import Camera, Device

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])


@router.get("", response_model=list[CameraPublic])
def list_cameras(scope: TenantDep) -> list[CameraPublic]:
    rows = scope.session.scalars(scope.select(Camera).order_by(Camera.device_id, Camera.name))
    return [CameraPublic.model_validate(c) for c in rows]


@router.get("/{camera_id}", response_model=CameraPublic)
def get_camera(camera_id: PathId, scope: TenantDep) -> CameraPublic:
    return CameraPublic.model_validate(scope.get(Camera, camera_id, "camera"))


@router.patch("/{camera_id}", response_model=CameraPublic)
def rename_camera(camera_id: PathId, body: CameraUpdate, scope: TenantAdmin, cloud: CloudDep) -> CameraPublic:
    """Rename a camera (tenant admins); a camera added in the UI is renamed in its device's desired config too,
    as a new version, so the edge and the camera form carry the new name."""
    camera = scope.get(Camera, camera_id, "camera")
    camera.display_name = body.display_name
    device = scope.session.get(Device, camera.device_id)
    if device is not None and device.revoked_at is None:
        device_config.rename(scope.session, cloud.bus, scope.tenant, device, camera.name, body.display_name,
                             scope.user.id)
    return CameraPublic.model_validate(camera)
