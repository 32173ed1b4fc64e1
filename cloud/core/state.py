"""What one API process holds: settings, database, live-event bus, signing key, metrics, CSP, OIDC client."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.core.bus import EventBus, make_bus
from cloud.core.capacity import Gates
from cloud.core.config import CloudSettings
from cloud.core.csp import ContentSecurityPolicy
from cloud.core.db import make_engine, make_sessionmaker
from guardian.contracts import auth
from guardian.runtime.metrics import AgentMetrics

if TYPE_CHECKING:  # imported when OIDC is enabled (cloud.api.main)
    from cloud.core.oidc import OidcClient


@dataclass
class CloudMetrics:
    registry: AgentMetrics = field(default_factory=lambda: AgentMetrics("cloud"))

    def __post_init__(self) -> None:
        m = self.registry
        self.requests = m.counter("http", "requests_total", "HTTP requests by route and status class.", ("route", "status"))
        self.latency = m.histogram("http", "request_duration_seconds", "HTTP request latency.", ("route",))
        self.ingest_events = m.counter("ingest", "events_total", "Event summaries received.", ("result",))
        self.ingest_batches = m.counter("ingest", "batches_total", "Ingestion batches.", ("result",))
        self.logins = m.counter("auth", "logins_total", "Login attempts.", ("method", "result"))
        # livesum: with several workers, the open streams of the live ones added up.
        self.sse_clients = m.gauge("sse", "clients", "Open Server-Sent Events streams.", multiprocess_mode="livesum")
        self.config_waits = m.gauge("relay", "config_waits", "Relays' config long polls waiting for a change.",
                                    multiprocess_mode="livesum")
        self.retention_deleted = m.counter("retention", "deleted_total", "Rows removed by retention.", ("table",))
        self.busy = m.counter("db", "busy_total", "Requests answered 503: no database turn in time.", ("pool",))
        self.push_sends = m.counter("push", "sends_total", "Web Push sends by outcome.", ("result",))
        for result in ("delivered", "gone", "retried", "refused", "failed"):
            self.push_sends.labels(result)
        for result in ("accepted", "updated", "duplicate", "rejected"):
            self.ingest_events.labels(result)
        for method in ("password", "oidc"):
            for result in ("ok", "failed", "limited"):
                self.logins.labels(method, result)


    def exposition(self) -> bytes:
        """The Prometheus text of this process, or of every worker of the server when there are several."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry.registry)


@dataclass
class Cloud:
    """``sessions``: the API pool (browsers, tools), entered through ``gates.api``; ``service_sessions``: the
    service pool (relay calls, live-event fan-out, retention), through ``gates.service``."""

    settings: CloudSettings
    engine: Engine
    sessions: sessionmaker[Session]
    service_engine: Engine
    service_sessions: sessionmaker[Session]
    gates: Gates
    bus: EventBus
    signing_key: Ed25519PrivateKey
    metrics: CloudMetrics
    csp: ContentSecurityPolicy
    oidc: OidcClient | None = None  # when OIDC is enabled

    @classmethod
    def from_settings(cls, settings: CloudSettings, relay_urls: Callable[[Session], Iterable[str]]) -> Cloud:
        """``relay_urls``: the enabled relays' endpoint URLs, for the UI's Content-Security-Policy."""
        db = settings.database
        engine = make_engine(db.url, pool_size=db.pool_size, pool_timeout=db.pool_timeout_seconds, echo=db.echo)
        service_engine = make_engine(db.url, pool_size=db.service_pool_size, pool_timeout=db.pool_timeout_seconds,
                                     echo=db.echo)
        sessions = make_sessionmaker(engine)
        metrics = CloudMetrics()
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            service_engine=service_engine,
            service_sessions=make_sessionmaker(service_engine),
            gates=Gates(db.pool_size, db.service_pool_size, settings.http.queue_seconds,
                        on_busy=lambda pool: metrics.busy.labels(pool).inc()),
            bus=make_bus(settings.database.url),
            signing_key=auth.private_key_from_text(settings.signing_key.get_secret_value()),
            metrics=metrics,
            csp=ContentSecurityPolicy(make_sessionmaker(service_engine), relay_urls, settings.http.media_origins, settings.archive.endpoint_url),
        )

    @property
    def secret(self) -> str:
        return self.settings.secret_key.get_secret_value()

    @property
    def public_keys(self) -> list[str]:
        return [auth.public_key_to_text(self.signing_key), *self.settings.previous_public_keys]
