"""What one API process holds: settings, database, live-event bus, signing key, metrics, CSP, OIDC client."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.core.bus import EventBus, make_bus
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
        self.sse_clients = m.gauge("sse", "clients", "Open Server-Sent Events streams.")
        self.retention_deleted = m.counter("retention", "deleted_total", "Rows removed by retention.", ("table",))
        for result in ("accepted", "updated", "duplicate", "rejected"):
            self.ingest_events.labels(result)
        for method in ("password", "oidc"):
            for result in ("ok", "failed", "limited"):
                self.logins.labels(method, result)


@dataclass
class Cloud:
    settings: CloudSettings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: EventBus
    signing_key: Ed25519PrivateKey
    metrics: CloudMetrics
    csp: ContentSecurityPolicy
    oidc: OidcClient | None = None  # when OIDC is enabled

    @classmethod
    def from_settings(cls, settings: CloudSettings, relay_urls: Callable[[Session], Iterable[str]]) -> Cloud:
        """``relay_urls``: the enabled relays' endpoint URLs, for the UI's Content-Security-Policy."""
        engine = make_engine(settings.database.url, pool_size=settings.database.pool_size, echo=settings.database.echo)
        sessions = make_sessionmaker(engine)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            bus=make_bus(settings.database.url),
            signing_key=auth.private_key_from_text(settings.signing_key.get_secret_value()),
            metrics=CloudMetrics(),
            csp=ContentSecurityPolicy(sessions, relay_urls, settings.http.media_origins, settings.archive.endpoint_url),
        )

    @property
    def secret(self) -> str:
        return self.settings.secret_key.get_secret_value()

    @property
    def public_keys(self) -> list[str]:
        return [auth.public_key_to_text(self.signing_key), *self.settings.previous_public_keys]
