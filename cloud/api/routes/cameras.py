"""Cameras as the edges report them; members see them, admins rename them."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import TenantAdmin, TenantDep
from cloud.api.params import PathId
from cloud.api.schemas import CameraPublic, CameraUpdate
from cloud.tables import Camera

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])


@router.get("", response_model=list[CameraPublic])
def list_cameras(scope: TenantDep) -> list[CameraPublic]:
    rows = scope.session.scalars(scope.select(Camera).order_by(Camera.device_id, Camera.name))
    return [CameraPublic.model_validate(c) for c in rows]


@router.get("/{camera_id}", response_model=CameraPublic)
def get_camera(camera_id: PathId, scope: TenantDep) -> CameraPublic:
    return CameraPublic.model_validate(scope.get(Camera, camera_id, "camera"))


@router.patch("/{camera_id}", response_model=CameraPublic)
def rename_camera(camera_id: PathId, body: CameraUpdate, scope: TenantAdmin) -> CameraPublic:
    camera = scope.get(Camera, camera_id, "camera")
    camera.display_name = body.display_name
    return CameraPublic.model_validate(camera)
