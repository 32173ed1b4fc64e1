"""The alerts firing now, read from the operator's Alertmanager (API v2, ``GET /api/v2/alerts``).

Only firing alerts (neither silenced nor inhibited) and, of each, what the fleet page shows: its name,
severity, summary, runbook and start, and the ``device``/``relay`` labels that say what it is about. Other
labels (an edge's ``camera``, a scrape's ``instance``) stay here. One short request with a time-out: a
slow or absent Alertmanager becomes :class:`AlertmanagerUnavailable`, which the page reports instead of
failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from cloud.core.config import AlertmanagerSettings
from cloud.core.errors import CloudError

ALERTS_PATH = "/api/v2/alerts"
# Alertmanager filters server side: what an operator has silenced or what another alert inhibits is not news;
# an alert it received but has not routed yet ("unprocessed") is firing all the same.
_ACTIVE_ONLY = {"active": "true", "silenced": "false", "inhibited": "false"}


class AlertmanagerUnavailable(CloudError):
    """Alertmanager did not answer in time, or answered something that is not its alert list."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FiringAlert:
    name: str
    severity: str
    summary: str
    runbook_url: str
    starts_at: datetime
    device: str  # "" when the alert is not about one device
    relay: str  # "" when the alert names no relay


def _alert(item: dict[str, Any]) -> FiringAlert:
    labels: dict[str, str] = item.get("labels") or {}
    annotations: dict[str, str] = item.get("annotations") or {}
    return FiringAlert(
        name=labels.get("alertname", ""),
        severity=labels.get("severity", ""),
        summary=annotations.get("summary", ""),
        runbook_url=annotations.get("runbook_url", ""),
        starts_at=datetime.fromisoformat(item["startsAt"]),
        device=labels.get("device", ""),
        relay=labels.get("relay", ""),
    )


async def firing_alerts(settings: AlertmanagerSettings) -> list[FiringAlert]:
    """Alertmanager's active alerts, oldest first. Raises :class:`AlertmanagerUnavailable`."""
    assert settings.url is not None, "only called when an Alertmanager is configured"
    url = str(settings.url).rstrip("/") + ALERTS_PATH
    try:
        async with httpx.AsyncClient(timeout=settings.timeout_seconds) as client:
            response = await client.get(url, params=_ACTIVE_ONLY)
        response.raise_for_status()
        alerts = [_alert(item) for item in response.json()]
    except httpx.TimeoutException:
        raise AlertmanagerUnavailable(f"Alertmanager did not answer within {settings.timeout_seconds:g} s") from None
    except httpx.HTTPStatusError as exc:
        raise AlertmanagerUnavailable(f"Alertmanager answered HTTP {exc.response.status_code}") from None
    except httpx.HTTPError as exc:
        raise AlertmanagerUnavailable(f"Alertmanager unreachable ({type(exc).__name__})") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise AlertmanagerUnavailable("Alertmanager's answer is not an alert list") from None
    return sorted(alerts, key=lambda a: a.starts_at)
