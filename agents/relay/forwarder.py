"""Forwarding to the cloud: privacy-minimised summaries and device health, signed, retried, acked.

What leaves the relay is built here and only here, from the cloud contract
(:mod:`guardian.contracts.cloud.v1`), which has no field for boxes, tracks, scores, snapshots or clips:
an :class:`EventSummary` carries the event id, device, camera, label, start/end, a coarse confidence
bucket, whether a clip exists, the names of the zones the event touched (never their geometry, which
the edge keeps; names of the form the cloud accepts, at most :data:`MAX_ZONES`), its severity (alert or
detection, decided on the edge) and the id of the review item the edge grouped it into (a UUID, or
nothing). Requests are
``POST {cloud}/api/v1/ingest`` with the proto3 JSON of an :class:`IngestBatch`, signed with the relay's
Ed25519 key (:func:`guardian.contracts.auth.sign_relay_request`); the cloud's certificate is verified
against the configured CA, so both ends are authenticated. An event is marked forwarded only after a 2xx
answer, at the version that was sent; anything else is retried with exponential backoff and full jitter.

What edges report applying of their desired configuration goes in the same batches
(``config_status``, built by :mod:`agents.relay.config_reports`) and is marked forwarded after the same 2xx.

The bootstrap tokens this relay spent are reported too (the cloud shows them used and refuses them
elsewhere). When the cloud answers that a token had been revoked before its use was reported (409
``token_revoked``: the tenant admin withdrew it while the relay had not yet heard), the device that
enrolled with it is revoked here, and the next health report tells the cloud.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable

import httpx
from google.protobuf import json_format
from sqlalchemy import select

from agents.relay.cache import EventCache
from agents.relay.config import CloudSettings
from agents.relay.config_reports import MAX_STATUSES_PER_BATCH, ConfigReports
from agents.relay.db.tables import CachedEvent, UsedToken
from agents.relay.errors import CloudFeedError, UnknownDevice
from agents.relay.health import HealthMonitor
from agents.relay.registry import revoke_device
from guardian.contracts import auth
from guardian.contracts.cloud.v1 import ingest_pb2
from guardian.contracts.edge.v1 import uplink_pb2
from guardian.contracts.user_agent import relay_user_agent
from guardian.runtime.backoff import Backoff
from guardian.runtime.errors import GuardianError
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.relay.forwarder")

INGEST_PATH = "/api/v1/ingest"
CONSUME_PATH = "/api/v1/relay/bootstrap/consume"
MAX_ZONES = 16  # a camera has at most 16 zones (the cloud's desired-config schema)
# A zone's name as the cloud's configuration gives it; anything else (an edge.toml zone named otherwise)
# is left out rather than have the cloud refuse the whole batch.
_ZONE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class CloudRejected(GuardianError):
    def __init__(self, status: int, body: str) -> None:
        self.status = status
        super().__init__(f"cloud answered {status}: {body[:200]}")


def confidence_bucket(max_score: float) -> int:
    if max_score >= 0.75:
        return ingest_pb2.CONFIDENCE_HIGH
    if max_score >= 0.5:
        return ingest_pb2.CONFIDENCE_MEDIUM
    if max_score > 0:
        return ingest_pb2.CONFIDENCE_LOW
    return ingest_pb2.CONFIDENCE_UNSPECIFIED


def _zone_names(sent: uplink_pb2.Event) -> list[str]:
    """The zone names of the event as the edge sent it (kept whole in the cache, as received)."""
    names = [name for name in sent.zones if _ZONE_NAME.fullmatch(name)]
    return list(dict.fromkeys(names))[:MAX_ZONES]


def _severity(sent: uplink_pb2.Event) -> int:
    """The edge's severity; anything but an alert (an older edge's unset one too) is a detection."""
    return ingest_pb2.SEVERITY_ALERT if sent.severity == uplink_pb2.SEVERITY_ALERT else ingest_pb2.SEVERITY_DETECTION


def _review_item(sent: uplink_pb2.Event) -> str:
    """The edge's review item id if it is a UUID as the edge makes them, else none (the event is an item
    of its own): the cloud stores it as given, so nothing else rides along in it."""
    try:
        return str(uuid.UUID(sent.review_item)) if sent.review_item else ""
    except ValueError:
        return ""


def summarise(event: CachedEvent) -> ingest_pb2.EventSummary:
    """The only view of an event the cloud ever gets."""
    sent = uplink_pb2.Event.FromString(event.payload)
    summary = ingest_pb2.EventSummary(
        event_id=event.event_id,
        device_id=event.device_id,
        camera=event.camera,
        label=event.label,
        confidence=confidence_bucket(event.max_score),  # type: ignore[arg-type]
        has_clip=bool(event.clip_ref),
        zones=_zone_names(sent),
        severity=_severity(sent),  # type: ignore[arg-type]
        review_item=_review_item(sent),
    )
    if event.start is not None:
        summary.start.FromDatetime(event.start)
    if event.end is not None:
        summary.end.FromDatetime(event.end)
    return summary


def _error_code(response: httpx.Response) -> str:
    """The cloud's ``{"error": {"code": …}}``, or "" when the body is not that."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""


class CloudClient:
    """Signed JSON requests to the cloud."""

    def __init__(self, settings: CloudSettings, signing_key: auth.Ed25519PrivateKey) -> None:
        self.settings = settings
        self.key = signing_key
        verify: object = str(settings.ca_file) if settings.ca_file else True
        self.http = httpx.AsyncClient(
            base_url=settings.url.rstrip("/"), verify=verify, timeout=settings.timeout_s,  # type: ignore[arg-type]
            headers={"User-Agent": relay_user_agent()},  # the cloud shows operators each relay's version
        )

    def sign(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        """Headers authenticating one request, in the configured scheme (``[cloud] request_signature``)."""
        return auth.sign_relay_request(
            self.key, relay_id=self.settings.relay_id, method=method, path=path, body=body,
            scheme=self.settings.request_signature,
        )

    async def post(self, path: str, body: bytes) -> httpx.Response:
        headers = self.sign("POST", path, body)
        headers["Content-Type"] = "application/json"
        return await self.http.post(path, content=body, headers=headers)

    async def get(self, path: str, read_timeout: float | None = None) -> httpx.Response:
        """A signed GET (``path`` exactly as sent, query string included); ``read_timeout`` instead of
        ``[cloud] timeout_s`` for the answer of a request the cloud may hold (a long poll)."""
        timeout = httpx.Timeout(self.settings.timeout_s, read=read_timeout) if read_timeout else self.http.timeout
        return await self.http.get(path, headers=self.sign("GET", path), timeout=timeout)

    async def get_json(self, path: str, what: str, error: type[CloudFeedError] = CloudFeedError) -> object:
        """The JSON of a signed GET answered 2xx; else ``error`` naming ``what`` (and the status)."""
        return (await self.get_json_answer(path, what, error))[0]

    async def get_json_answer(self, path: str, what: str, error: type[CloudFeedError] = CloudFeedError,
                              read_timeout: float | None = None) -> tuple[object, httpx.Headers]:
        """:meth:`get_json`, with the answer's headers."""
        response = await self.get(path, read_timeout)
        if response.status_code // 100 != 2:
            raise error(f"cloud answered {response.status_code}", response.status_code)
        try:
            return response.json(), response.headers
        except ValueError:
            raise error(f"{what} is not JSON", response.status_code) from None

    async def ingest(self, batch: ingest_pb2.IngestBatch) -> ingest_pb2.IngestResult:
        body = json_format.MessageToJson(batch, indent=None).encode()
        response = await self.post(INGEST_PATH, body)
        if response.status_code // 100 != 2:
            raise CloudRejected(response.status_code, response.text)
        result = ingest_pb2.IngestResult()
        json_format.Parse(response.text or "{}", result, ignore_unknown_fields=True)
        return result

    async def close(self) -> None:
        await self.http.aclose()


class Forwarder:
    def __init__(
        self,
        settings: CloudSettings,
        cache: EventCache,
        health: HealthMonitor,
        client: CloudClient,
        metrics: AgentMetrics,
        on_revoked: Callable[[list[str]], None] = lambda _ids: None,
        config_reports: ConfigReports | None = None,
    ) -> None:
        """``on_revoked``: told the ids of devices revoked here because the cloud had revoked the token
        they enrolled with (the running relay then cuts them off at once). ``config_reports``: the edges'
        config reports to forward (None: none are)."""
        self.settings = settings
        self.cache = cache
        self.health = health
        self.client = client
        self.on_revoked = on_revoked
        self.config_reports = config_reports
        self.backoff = Backoff(0.5, settings.backoff_max_s)
        self.sent = metrics.counter("forward", "events_total", "Event summaries acknowledged by the cloud.")
        self.duplicates = metrics.counter("forward", "duplicates_total", "Summaries the cloud already held.")
        self.failures = metrics.counter("forward", "failures_total", "Failed ingest requests.")
        self.pending = metrics.gauge("forward", "pending_events", "Events not yet acknowledged by the cloud.")
        self.latency = metrics.histogram("forward", "request_seconds", "Ingest request duration.")
        self.statuses_sent = metrics.counter(
            "config", "statuses_forwarded_total", "Config reports of edges acknowledged by the cloud."
        )

    async def run_once(self) -> int:
        """One round: send what is pending; returns the number of events acknowledged."""
        events = await asyncio.to_thread(self.cache.pending_forward, self.settings.batch_size)
        reports = await asyncio.to_thread(self.health.evaluate)
        statuses = (await asyncio.to_thread(self.config_reports.pending, MAX_STATUSES_PER_BATCH)
                    if self.config_reports is not None else [])
        if not events and not reports and not statuses:
            return 0
        batch = ingest_pb2.IngestBatch(relay_id=self.settings.relay_id)
        batch.events.extend(summarise(e) for e in events)
        batch.health.extend(reports)
        batch.config_status.extend(s.status for s in statuses)
        with self.latency.time():
            result = await self.client.ingest(batch)
        await asyncio.to_thread(self.cache.mark_forwarded, [(e.event_id, e.version) for e in events])
        if reports:
            await asyncio.to_thread(self.health.mark_reported, reports)
        if statuses and self.config_reports is not None:
            await asyncio.to_thread(self.config_reports.mark_forwarded, statuses)
            self.statuses_sent.inc(len(statuses))
        self.sent.inc(len(events))
        self.duplicates.inc(result.events_duplicate)
        return len(events)

    async def report_consumed_tokens(self) -> None:
        """Tell the cloud which bootstrap tokens this relay spent (it refuses their reuse elsewhere)."""
        with self.cache.sessions() as session:
            nonces = list(session.scalars(select(UsedToken.nonce).where(UsedToken.reported.is_(False)).limit(50)))
        for nonce in nonces:
            body = json.dumps({"nonce": nonce}).encode()
            response = await self.client.post(CONSUME_PATH, body)
            if response.status_code == 409:
                code = _error_code(response)
                if code == "token_revoked":
                    # The admin withdrew the token before the cloud heard it was used: the device that got
                    # in with it is revoked (the cloud hears so in the next health report).
                    await asyncio.to_thread(self._revoke_enrolled_with, nonce)
                else:
                    log.warning("cloud_says_token_spent", code=code)
            elif response.status_code // 100 != 2:
                continue
            with self.cache.sessions() as session, session.begin():
                row = session.get(UsedToken, nonce)
                if row is not None:
                    row.reported = True

    def _revoke_enrolled_with(self, nonce: str) -> None:
        with self.cache.sessions() as session:
            row = session.get(UsedToken, nonce)
            device_id = row.device_id if row is not None else None
        if device_id is None:
            return
        try:
            revoke_device(self.cache.sessions, device_id, source="cloud")
        except UnknownDevice:
            return
        log.warning("device_revoked_token_was_withdrawn", device=device_id)
        self.on_revoked([device_id])

    async def run(self, progress: Callable[[], None] = lambda: None) -> None:
        loop = asyncio.get_running_loop()
        next_token_report = 0.0
        while True:
            try:
                sent = await self.run_once()
                if loop.time() >= next_token_report:
                    next_token_report = loop.time() + 30.0
                    try:
                        await self.report_consumed_tokens()
                    except httpx.HTTPError as exc:
                        log.info("token_use_report_deferred", error=str(exc))
                self.backoff.reset()
                self.pending.set(await asyncio.to_thread(self.cache.pending_count))
                progress()
                if sent < self.settings.batch_size:
                    await asyncio.sleep(self.settings.interval_s)
            except (httpx.HTTPError, CloudRejected) as exc:
                self.failures.inc()
                delay = self.backoff.next_delay()
                log.warning("forward_failed", error=str(exc), retry_in_s=round(delay, 2))
                progress()
                await asyncio.sleep(delay)
