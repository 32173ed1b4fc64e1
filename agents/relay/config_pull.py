"""Desired configurations from the cloud: ``GET {cloud}/api/v1/relay/configs?after=<cursor>&wait=<s>``, a
long poll.

The cloud answers a signed relay request (like the revocation list, :class:`CloudClient`) with
``{"configs": [<DesiredConfig, proto3 JSON>…], "cursor": "<opaque>"}``: the newest version of each of the
tenant's devices changed after the cursor, or of every device without one, a bounded page at a time.
The relay asks from the cursor it stored and keeps the answer in its database
(:mod:`agents.relay.desired_configs`: newer versions of devices enrolled here, and the new cursor, in one
transaction), then wakes the Watch streams of the devices that got a new version.

With ``[cloud] config_wait_s`` the cloud holds the request while nothing changed and answers as soon as a
config is saved (or empty after that long), so the relay asks again at once after every answer: a saved
config reaches the edges within a round trip, at one request per ``config_wait_s`` when nothing changes.
A cloud without long polls answers at once and says nothing of a wait (no ``X-Guardian-Wait`` header):
then, as with ``config_wait_s`` 0, the relay asks every ``[cloud] config_poll_s``. Either way, while
answers bring configs and move the cursor, it asks again at once for the rest.

A failed poll (cloud unreachable, non-2xx, a body not of that shape) is retried with backoff; the relay
serves what it has meanwhile, and a restarted relay starts from its stored cursor. One malformed config
in an answer is skipped (and counted), not the whole answer. Device ids and versions are logged, never
a configuration's contents.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import quote

import httpx
from google.protobuf import json_format
from sqlalchemy.exc import SQLAlchemyError

from agents.relay.config import CloudSettings
from agents.relay.desired_configs import ConfigChanges, DesiredConfigs, Stored
from agents.relay.errors import CloudFeedError
from agents.relay.forwarder import CloudClient
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.backoff import Backoff
from guardian.runtime.logging import get_logger
from guardian.runtime.metrics import AgentMetrics

log = get_logger("guardian.relay.config_pull")

CONFIGS_PATH = "/api/v1/relay/configs"
WAIT_HEADER = "X-Guardian-Wait"  # sent by a cloud that honours `wait`
MAX_CURSOR = 1024


class ConfigFeedError(CloudFeedError):
    """The cloud's config feed could not be fetched or read; ``status`` is the HTTP status, if any."""


@dataclass(frozen=True)
class ConfigFeed:
    configs: list[config_pb2.DesiredConfig]
    cursor: str
    malformed: int  # entries skipped
    long_poll: bool = False  # the cloud honoured a `wait`: ask again at once


@dataclass(frozen=True)
class Pulled:
    received: int  # configs in the answer, stored or not
    more: bool  # the answer had configs and moved the cursor: there may be another page
    stored: Stored
    long_poll: bool = False  # the cloud held the request until a change or its wait ran out


def parse_feed(payload: object) -> ConfigFeed:
    """The cloud's answer, checked; a malformed config is skipped, a malformed answer raises."""
    if not isinstance(payload, dict):
        raise ConfigFeedError("config feed is not a JSON object")
    entries, cursor = payload.get("configs"), payload.get("cursor")
    if not isinstance(entries, list):
        raise ConfigFeedError("config feed has no list of configs")
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR:
        raise ConfigFeedError("config feed has no usable cursor")
    configs: list[config_pb2.DesiredConfig] = []
    malformed = 0
    for entry in entries:
        config = config_pb2.DesiredConfig()
        try:
            # Fields of a newer cloud are dropped: an edge can only use what this relay's contract knows.
            json_format.ParseDict(entry, config, ignore_unknown_fields=True)
        except (json_format.ParseError, TypeError, AttributeError):
            malformed += 1
            continue
        if not 0 < len(config.device_id) <= 64 or config.version == 0:
            malformed += 1
            continue
        configs.append(config)
    return ConfigFeed(configs, cursor, malformed)


class ConfigPuller:
    """Fetches the cloud's config feed (a long poll, or every ``config_poll_s``) and stores it, backing off on
    errors."""

    def __init__(
        self,
        settings: CloudSettings,
        configs: DesiredConfigs,
        changes: ConfigChanges,
        client: CloudClient,
        metrics: AgentMetrics,
    ) -> None:
        self.settings = settings
        self.configs = configs
        self.changes = changes
        self.client = client
        interval = settings.config_poll_s
        self.backoff = Backoff(interval, max(interval, settings.backoff_max_s), jitter="equal")
        self.pulls = metrics.counter("config", "pulls_total", "Polls of the cloud's config feed, by result.", ("result",))
        for result in ("ok", "failed"):
            self.pulls.labels(result)
        self.stored = metrics.counter("config", "versions_stored_total", "Newer desired config versions cached.")
        self.skipped = metrics.counter(
            "config", "configs_skipped_total", "Configs from the cloud not cached, by reason.", ("reason",)
        )
        for reason in ("malformed", "not_enrolled", "not_newer"):
            self.skipped.labels(reason)
        self.last_success = metrics.gauge(
            "config", "last_pull_success_timestamp_seconds", "When the config feed was last stored (unix time)."
        )

    async def fetch(self, cursor: str | None) -> ConfigFeed:
        wait = self.settings.config_wait_s
        query = ([f"after={quote(cursor, safe='')}"] if cursor is not None else []) + ([f"wait={wait}"] if wait else [])
        path = CONFIGS_PATH + ("?" + "&".join(query) if query else "")
        # The cloud may hold the answer for `wait` seconds: the read timeout is longer by the usual one.
        payload, headers = await self.client.get_json_answer(path, "config feed", ConfigFeedError,
                                                             read_timeout=wait + self.settings.timeout_s if wait else None)
        return replace(parse_feed(payload), long_poll=bool(wait) and WAIT_HEADER in headers)

    async def poll_once(self) -> Pulled:
        """Fetch from the stored cursor and store the answer once; raises on failure (the caller backs off)."""
        cursor = await asyncio.to_thread(self.configs.cursor)
        feed = await self.fetch(cursor)
        stored = await asyncio.to_thread(self.configs.store, feed.configs, feed.cursor)
        self.changes.notify(device_id for device_id, _version in stored.versions)
        self.stored.inc(len(stored.versions))
        self.skipped.labels("malformed").inc(feed.malformed)
        self.skipped.labels("not_enrolled").inc(stored.not_enrolled)
        self.skipped.labels("not_newer").inc(stored.not_newer)
        if feed.malformed:
            log.warning("config_feed_entries_skipped", count=feed.malformed)
        for device_id, version in stored.versions:
            log.info("desired_config_cached", device=device_id, version=version)
        self.pulls.labels("ok").inc()
        self.last_success.set(time.time())
        received = len(feed.configs) + feed.malformed
        return Pulled(received, received > 0 and feed.cursor != cursor, stored, feed.long_poll)

    async def run(self, progress: Callable[[], None] = lambda: None) -> None:
        while True:
            try:
                pulled = await self.poll_once()
            except (httpx.HTTPError, ConfigFeedError) as exc:
                await self._failed(exc, "config_pull_failed")
                continue
            except SQLAlchemyError as exc:  # e.g. the disk: what is cached stays; retried later
                await self._failed(exc, "config_store_failed", error=True)
                continue
            if self.backoff.attempt:
                log.info("config_pull_recovered", failed_attempts=self.backoff.attempt)
            self.backoff.reset()
            progress()
            if not pulled.more and not pulled.long_poll:
                await asyncio.sleep(self.settings.config_poll_s)

    async def _failed(self, exc: Exception, event: str, error: bool = False) -> None:
        self.pulls.labels("failed").inc()
        delay = self.backoff.next_delay()
        (log.error if error else log.warning)(
            event, error=str(exc) or type(exc).__name__, status=getattr(exc, "status", None), retry_in_s=round(delay, 2)
        )
        await asyncio.sleep(delay)
