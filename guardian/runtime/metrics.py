"""Prometheus metrics: one registry per program, served on ``/metrics`` at a configured address.

Naming convention: ``guardian_<agent>_<subsystem>_<name>_<unit|total>``, e.g.
``guardian_edge_ingest_packets_total``. Build metrics with :meth:`AgentMetrics.counter` and friends so
the prefix cannot be forgotten; :func:`check_names` enforces it in tests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server
from pydantic import Field, field_validator

from guardian.runtime.config import Section


class MetricsSettings(Section):
    enabled: bool = Field(True, description="Serve /metrics for Prometheus.")
    address: str = Field(
        "127.0.0.1", description="Address to listen on; keep it on loopback or the management network."
    )
    port: int = Field(9464, ge=0, le=65535, description="TCP port for /metrics (0 picks a free one).")

    @field_validator("address")
    @classmethod
    def _is_ip(cls, value: str) -> str:
        ip_address(value)
        return value


@dataclass
class AgentMetrics:
    """A registry whose metrics all carry the ``guardian_<agent>`` prefix."""

    agent: str
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        self.namespace = f"guardian_{self.agent}"

    def counter(self, subsystem: str, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(name, doc, labels, namespace=self.namespace, subsystem=subsystem, registry=self.registry)

    def gauge(self, subsystem: str, name: str, doc: str, labels: tuple[str, ...] = (), **kwargs: Any) -> Gauge:
        return Gauge(
            name, doc, labels, namespace=self.namespace, subsystem=subsystem, registry=self.registry, **kwargs
        )

    def histogram(
        self, subsystem: str, name: str, doc: str, labels: tuple[str, ...] = (), **kwargs: Any
    ) -> Histogram:
        return Histogram(
            name, doc, labels, namespace=self.namespace, subsystem=subsystem, registry=self.registry, **kwargs
        )

    def info(self, subsystem: str, name: str, doc: str) -> Info:
        return Info(name, doc, namespace=self.namespace, subsystem=subsystem, registry=self.registry)


@dataclass
class MetricsServer:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.server_port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(settings: MetricsSettings, metrics: AgentMetrics) -> MetricsServer | None:
    """Start the ``/metrics`` HTTP endpoint in a daemon thread; ``None`` when disabled."""
    if not settings.enabled:
        return None
    server, thread = start_http_server(settings.port, addr=settings.address, registry=metrics.registry)
    return MetricsServer(server, thread)


def check_names(metrics: AgentMetrics) -> list[str]:
    """Names in the registry that break the convention (empty when all is well)."""
    bad = []
    for family in metrics.registry.collect():
        if not family.name.startswith(f"{metrics.namespace}_"):
            bad.append(family.name)
    return bad
