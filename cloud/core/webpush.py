"""Web Push delivery in one process: VAPID (RFC 8292), aes128gcm payloads (RFC 8291) and the POST to each
browser's push service (RFC 8030), with pywebpush (py-vapid, http-ece) over one shared aiohttp session.

The bus (:mod:`cloud.core.bus`) announces (tenant, event ids) after the ingest transaction commits; the
:class:`PushDispatcher` hears them in the event loop and returns at once. One task per tenant at a time asks
the :class:`PushSource` which notifications those events make (the source claims them in the database, so
each member hears of an event once, whichever replica heard the announcement), then each notification is
sent in a task of its own: ingest never waits for a push service. 404/410 (the subscription is gone) removes
the subscription; 429, 5xx and no answer are retried with exponential backoff, at most ``max_attempts``
sends; any other refusal is logged and dropped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from pywebpush import WebPusher

from cloud.core.config import PushSettings
from guardian.runtime.logging import get_logger

log = get_logger("cloud.push")

BACKOFF_SECONDS = 0.5  # first retry; doubles each time
BACKOFF_MAX_SECONDS = 30.0  # also bounds a push service's Retry-After
CONCURRENT_SENDS = 16  # requests in flight to push services, per process
_JWT_SECONDS = 12 * 3600  # RFC 8292 §2: at most 24 h


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification for one browser: where to send it, the keys it is encrypted to, what it says (JSON)."""

    subscription_id: str
    endpoint: str
    p256dh: str
    auth: str
    payload: str


class PushSource(Protocol):
    async def claim(self, tenant_id: str, ids: list[str]) -> list[Delivery]:
        """The notifications the announced events make, claimed so no other replica sends them."""
        ...

    async def gone(self, subscription_ids: list[str]) -> None:
        """Forget subscriptions whose push service answered 404/410."""
        ...


def load_vapid(settings: PushSettings) -> Vapid:
    return Vapid.from_raw(settings.vapid_private_key.get_secret_value().encode())


def application_server_key(vapid: Vapid) -> str:
    """The public key browsers subscribe with (``applicationServerKey``): the uncompressed P-256 point, base64url."""
    point = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


def generate_private_key() -> tuple[str, str]:
    """A new VAPID key: (private scalar, public key), both base64url."""
    vapid = Vapid()
    vapid.generate_keys()
    scalar = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    return base64.urlsafe_b64encode(scalar).rstrip(b"=").decode(), application_server_key(vapid)


class PushDispatcher:
    """Fed by the bus through :meth:`notify`; ``on_result`` counts each send's outcome (delivered, gone,
    retried, refused, failed)."""

    def __init__(self, source: PushSource, settings: PushSettings,
                 on_result: Callable[[str], None] = lambda _result: None) -> None:
        self._source, self._settings, self._on_result = source, settings, on_result
        self._vapid = load_vapid(settings)
        self._announced: dict[str, list[str]] = {}  # per tenant: ids heard of and not claimed yet
        self._claims: dict[str, asyncio.Task[None]] = {}
        self._sends: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(CONCURRENT_SENDS)
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._settings.timeout_seconds))

    async def close(self) -> None:
        for task in [*self._claims.values(), *self._sends]:
            task.cancel()
        for task in [*self._claims.values(), *self._sends]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def idle(self) -> None:
        """Wait until nothing is being claimed or sent (tests, benchmarks)."""
        while self._claims or self._sends:
            await asyncio.gather(*self._claims.values(), *self._sends, return_exceptions=True)

    def notify(self, tenant_id: str, ids: list[str]) -> None:
        """The bus heard of ``ids`` (committed); called in the event loop: only queues."""
        if not ids or self._http is None:
            return
        self._announced.setdefault(tenant_id, []).extend(ids)
        if tenant_id not in self._claims:
            self._claims[tenant_id] = asyncio.create_task(self._claim(tenant_id), name=f"push-claim-{tenant_id}")

    async def _claim(self, tenant_id: str) -> None:
        try:
            while tenant_id in self._announced:
                ids = list(dict.fromkeys(self._announced.pop(tenant_id)))
                try:
                    deliveries = await self._source.claim(tenant_id, ids)
                except Exception as exc:
                    # Nothing was claimed (the transaction rolled back): these events notify nobody.
                    log.warning("push_claim_failed", tenant=tenant_id, events=len(ids), error=type(exc).__name__)
                    continue
                for delivery in deliveries:
                    task = asyncio.create_task(self._deliver(delivery), name="push-send")
                    self._sends.add(task)
                    task.add_done_callback(self._sends.discard)
        finally:
            del self._claims[tenant_id]

    async def _deliver(self, delivery: Delivery) -> None:
        for attempt in range(1, self._settings.max_attempts + 1):
            async with self._slots:
                status, retry_after = await self._send(delivery)
            if 200 <= status < 300:
                self._on_result("delivered")
                return
            if status in (404, 410):
                self._on_result("gone")
                log.info("push_subscription_gone", subscription=delivery.subscription_id, status=status)
                try:
                    await self._source.gone([delivery.subscription_id])
                except Exception as exc:
                    log.warning("push_forget_failed", subscription=delivery.subscription_id, error=type(exc).__name__)
                return
            if status and status != 429 and status < 500:
                self._on_result("refused")
                log.warning("push_refused", subscription=delivery.subscription_id, status=status,
                            host=urlsplit(delivery.endpoint).hostname)
                return
            if attempt == self._settings.max_attempts:
                self._on_result("failed")
                log.warning("push_failed", subscription=delivery.subscription_id, status=status, attempts=attempt)
                return
            self._on_result("retried")
            delay = retry_after if retry_after is not None else BACKOFF_SECONDS * 2 ** (attempt - 1)
            await asyncio.sleep(min(delay, BACKOFF_MAX_SECONDS))

    async def _send(self, delivery: Delivery) -> tuple[int, float | None]:
        """One POST: (HTTP status, Retry-After seconds if given); status 0 when no answer came."""
        assert self._http is not None
        endpoint = urlsplit(delivery.endpoint)
        claims: dict[str, str | int] = {"sub": self._settings.contact, "aud": f"{endpoint.scheme}://{endpoint.netloc}",
                                        "exp": int(time.time()) + _JWT_SECONDS}
        headers = self._vapid.sign(claims)
        pusher = WebPusher({"endpoint": delivery.endpoint, "keys": {"p256dh": delivery.p256dh, "auth": delivery.auth}},
                           aiohttp_session=self._http)
        try:
            response = await pusher.send_async(delivery.payload.encode(), headers, ttl=self._settings.ttl_seconds,
                                               content_encoding="aes128gcm", timeout=self._http.timeout)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("push_no_answer", subscription=delivery.subscription_id, error=type(exc).__name__)
            return 0, None
        except ValueError as exc:  # keys that do not decode or are not on the curve: never sendable
            log.warning("push_bad_keys", subscription=delivery.subscription_id, error=type(exc).__name__)
            return 404, None
        assert isinstance(response, aiohttp.ClientResponse)
        return response.status, _retry_after(response.headers.get("Retry-After"))


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None  # an HTTP date is rare from push services: the own backoff applies
    return float(value.strip())
