"""Plans and their hard limits. Only the Free plan exists for now; limits are code, not data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    max_cameras: int
    max_archive_bytes: int
    retention_days: int
    max_live_viewers: int = 8  # live views open at once in the tenant (each viewer of each camera is one)


FREE = Plan(name="free", max_cameras=4, max_archive_bytes=5 * 1024**3, retention_days=7)
PLANS = {FREE.name: FREE}


def plan_for(name: str) -> Plan:
    return PLANS.get(name, FREE)
