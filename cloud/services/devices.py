"""Revoking a device, the one way: a tenant admin's ``DELETE /api/v1/devices/{id}`` and a relay's
``REVOKED`` health report (the device was revoked at the relay with ``guardian-relay device revoke``)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from cloud.core.db import utcnow
from cloud.tables import Camera, Device
from guardian.runtime.logging import get_logger

log = get_logger("cloud.devices")


def revoke_device(session: Session, device: Device, reason: str, by: str) -> bool:
    """Revoke ``device`` for good: the relay's revocation list names it from now on, nothing more it reports
    is stored, and its cameras leave the list (and the plan's camera count); past events stay until
    retention removes them. ``by``: who revoked it, for the log. False when it already was."""
    if device.revoked_at is not None:
        return False
    device.revoked_at = utcnow()
    device.status = "offline"
    device.reason = reason
    session.execute(delete(Camera).where(Camera.tenant_id == device.tenant_id, Camera.device_id == device.id))
    log.info("device_revoked", tenant=device.tenant_id, device=device.id, by=by)
    return True
