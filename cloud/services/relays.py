"""Relays as the rest of the cloud reads them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.tables import Relay


def enabled_endpoint_urls(session: Session) -> list[str]:
    """Where the browser fetches media from: every enabled relay (the UI's Content-Security-Policy)."""
    return list(session.scalars(select(Relay.endpoint_url).where(Relay.enabled.is_(True))))
