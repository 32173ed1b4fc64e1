"""The publisher's Prometheus metrics: made once per process and shared by its publishers."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from agents.edge.mqtt.tls import FAILURE_REASONS
from guardian.runtime.metrics import AgentMetrics

DROP_REASONS = ("queue_full", "disconnected", "error")


@dataclass(frozen=True)
class MqttMetrics:
    published: Counter
    dropped: Counter
    connected: Gauge
    connects: Counter
    connect_failures: Counter

    @classmethod
    def on(cls, metrics: AgentMetrics) -> MqttMetrics:
        made = cls(
            published=metrics.counter("mqtt", "messages_published_total", "Messages handed to the MQTT broker"),
            dropped=metrics.counter("mqtt", "messages_dropped_total",
                                    "Event news not published: queue full, broker away, or a publishing error",
                                    ("reason",)),
            connected=metrics.gauge("mqtt", "connected", "1 while connected to the site's MQTT broker"),
            connects=metrics.counter("mqtt", "connects_total", "Connections made to the MQTT broker"),
            connect_failures=metrics.counter("mqtt", "connect_failures_total",
                                             "Connections to the MQTT broker that failed: its certificate refused, "
                                             "TLS, network, or refused by the broker", ("reason",)),
        )
        for reason in DROP_REASONS:
            made.dropped.labels(reason)
        for reason in FAILURE_REASONS:
            made.connect_failures.labels(reason)
        return made
