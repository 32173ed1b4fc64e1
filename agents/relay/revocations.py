"""Revocations learned from the cloud: ``GET {cloud}/api/v1/relay/revocations``, polled and applied.

A tenant admin revokes a device (``DELETE /api/v1/devices/{id}``) or a bootstrap token in the cloud; the
cloud lists both to the tenant's relay (a signed request, like ingestion: :class:`CloudClient`). Every
``[cloud] revocation_poll_s`` (and at start) the relay fetches the list and applies it:

- ``{"kind": "device", "device_id", "revoked_at"}``: the device is revoked exactly as by
  ``guardian-relay device revoke`` (:func:`agents.relay.registry.revoke_device`): its registry row is
  marked revoked, so the tunnel reconcile removes its WireGuard peer, its open uplink streams are closed,
  and every new gRPC call or media request from it is refused. Its events already cached are forwarded
  as before (the cloud drops what a revoked device reports). Devices not enrolled here are skipped.
- ``{"kind": "bootstrap_token", "nonce", "expires_at"}``: the nonce goes to ``revoked_tokens`` and
  enrolment with that token is refused (409 ``token_revoked``, like a used token) until it expires anyway.
  Tokens this relay spent itself are in ``used_tokens`` already and are not recorded twice.

Both live in the relay's database, so they survive a restart, and applying the same list again changes
nothing. A failed poll (cloud unreachable, non-2xx answer, not a JSON array) is retried with backoff;
the relay keeps running and keeps enforcing what it already knows. Device ids appear in logs, token
nonces never do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from agents.relay.config import CloudSettings
from agents.relay.db.tables import Device, RevokedToken, UsedToken, utcnow
from agents.relay.errors import CloudFeedError, UnknownDevice
from agents.relay.forwarder import CloudClient
from agents.relay.registry import revoke_device
from guardian.runtime.backoff import Backoff
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.relay.revocations")

REVOCATIONS_PATH = "/api/v1/relay/revocations"
# A revoked token is remembered a little past its expiry, like a used one (clock skew with the cloud).
TOKEN_GRACE = timedelta(minutes=5)
KINDS = ("device", "bootstrap_token")


class RevocationFeedError(CloudFeedError):
    """The cloud's revocation list could not be fetched or read; ``status`` is the HTTP status, if any."""


@dataclass(frozen=True)
class RevocationList:
    devices: frozenset[str]
    tokens: dict[str, datetime]  # nonce → when the token expires anyway (aware UTC)


@dataclass(frozen=True)
class Applied:
    devices: list[str]  # revoked here by this application
    tokens: int  # token nonces newly recorded


def _utc(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_revocations(payload: object) -> RevocationList:
    """The cloud's answer, checked. Malformed entries are skipped (and logged); other kinds are ignored."""
    if not isinstance(payload, list):
        raise RevocationFeedError("revocation list is not a JSON array")
    devices: set[str] = set()
    tokens_: dict[str, datetime] = {}
    skipped = 0
    for item in payload:
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind == "device":
            device_id = item.get("device_id")
            if isinstance(device_id, str) and 0 < len(device_id) <= 64:
                devices.add(device_id)
                continue
        elif kind == "bootstrap_token":
            nonce, expires_at = item.get("nonce"), _utc(item.get("expires_at"))
            if isinstance(nonce, str) and 0 < len(nonce) <= 128 and expires_at is not None:
                tokens_[nonce] = max(expires_at, tokens_.get(nonce, expires_at))
                continue
        elif isinstance(kind, str):
            continue  # a kind this relay does not know yet (a newer cloud)
        skipped += 1
    if skipped:
        log.warning("revocation_entries_skipped", count=skipped)
    return RevocationList(frozenset(devices), tokens_)


def apply_revocations(sessions: sessionmaker, revocations: RevocationList, now: datetime | None = None) -> Applied:
    """Apply a revocation list to the relay's database; applying it again changes nothing."""
    now = now or utcnow()
    with sessions() as session:
        active = set(session.scalars(select(Device.device_id).where(Device.revoked_at.is_(None))))
    revoked: list[str] = []
    for device_id in sorted(active & revocations.devices):
        try:
            revoke_device(sessions, device_id, source="cloud")  # the same path as `guardian-relay device revoke`
        except UnknownDevice:  # devices are never deleted, only revoked; harmless if one were
            continue
        revoked.append(device_id)
    with sessions.begin() as session:
        known = set(session.scalars(select(RevokedToken.nonce)))
        known.update(session.scalars(select(UsedToken.nonce)))
        fresh = [
            RevokedToken(nonce=nonce, expires_at=expires_at + TOKEN_GRACE, learned_at=now)
            for nonce, expires_at in revocations.tokens.items()
            if nonce not in known and expires_at + TOKEN_GRACE > now
        ]
        session.add_all(fresh)
    return Applied(revoked, len(fresh))


class RevocationPoller:
    """Fetches and applies the cloud's revocation list every ``revocation_poll_s``, backing off on errors."""

    def __init__(
        self,
        settings: CloudSettings,
        sessions: sessionmaker,
        client: CloudClient,
        metrics: AgentMetrics,
        on_revoked: Callable[[list[str]], None] = lambda _ids: None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.client = client
        self.on_revoked = on_revoked
        interval = settings.revocation_poll_s
        # Never faster than the normal interval, growing to backoff_max_s (or the interval, if longer).
        self.backoff = Backoff(interval, max(interval, settings.backoff_max_s), jitter="equal")
        self.applied = metrics.counter(
            "revocations", "applied_total", "Revocations from the cloud applied at this relay, by kind.", ("kind",)
        )
        for kind in KINDS:
            self.applied.labels(kind)
        self.failures = metrics.counter(
            "revocations", "poll_failures_total", "Failed fetches or applications of the cloud's revocation list."
        )
        self.last_success = metrics.gauge(
            "revocations", "last_success_timestamp_seconds", "When the revocation list was last applied (unix time)."
        )

    async def fetch(self) -> RevocationList:
        return parse_revocations(await self.client.get_json(REVOCATIONS_PATH, "revocation list", RevocationFeedError))

    async def poll_once(self) -> Applied:
        """Fetch and apply the list once; raises on failure (the caller backs off)."""
        revocations = await self.fetch()
        applied = await asyncio.to_thread(apply_revocations, self.sessions, revocations)
        if applied.devices:
            self.applied.labels("device").inc(len(applied.devices))
            self.on_revoked(applied.devices)
        if applied.tokens:
            self.applied.labels("bootstrap_token").inc(applied.tokens)
        if applied.devices or applied.tokens:
            log.info("cloud_revocations_applied", devices=applied.devices, bootstrap_revocations=applied.tokens)
        self.last_success.set(time.time())
        return applied

    async def run(self, progress: Callable[[], None] = lambda: None) -> None:
        while True:
            try:
                await self.poll_once()
            except (httpx.HTTPError, RevocationFeedError) as exc:
                await self._failed(exc, "revocation_poll_failed")
                continue
            except SQLAlchemyError as exc:  # e.g. the disk: what is enforced stays; retried later
                await self._failed(exc, "revocation_apply_failed", error=True)
                continue
            if self.backoff.attempt:
                log.info("revocation_poll_recovered", failed_attempts=self.backoff.attempt)
            self.backoff.reset()
            progress()
            await asyncio.sleep(self.settings.revocation_poll_s)

    async def _failed(self, exc: Exception, event: str, error: bool = False) -> None:
        self.failures.inc()
        delay = self.backoff.next_delay()
        (log.error if error else log.warning)(
            event, error=str(exc) or type(exc).__name__, status=getattr(exc, "status", None), retry_in_s=round(delay, 2)
        )
        await asyncio.sleep(delay)
