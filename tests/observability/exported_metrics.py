"""The metric names each program really exports, read from real registries: every component that declares
metrics is built here against one AgentMetrics per program, as the program builds it, and the registry is
asked for its families. Collaborators a constructor only keeps (sessions, clients, stores) are left out
(None): declaring metrics needs none of them. ``test_catalogue_covers_every_declaration`` fails when a
component that declares metrics is missing here, so the list cannot fall behind the agents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from prometheus_client import CollectorRegistry

from agents.edge.archive.uploader import ArchiveUploader
from agents.edge.config import EdgeSettings
from agents.edge.detection.metrics import DetectorMetrics
from agents.edge.enrolment import Enrolment
from agents.edge.mqtt.metrics import MqttMetrics
from agents.edge.uplink.client import UplinkClient
from agents.edge.uplink.config_watch import ConfigWatch
from agents.edge.uplink.service import UplinkAgent
from agents.edge.uplink.tunnel import EdgeTunnel
from agents.edge.video.retention import Retention
from agents.edge.video.service import RecorderAgent
from agents.relay.archive import ArchiveService
from agents.relay.camera_http import CameraEndpoint
from agents.relay.config import CloudSettings as RelayCloudSettings
from agents.relay.config import (
    HealthSettings,
    LiveSettings,
    MediaSettings,
    RelaySettings,
    TunnelSettings,
    UpdatesSettings,
)
from agents.relay.config_pull import ConfigPuller
from agents.relay.edge_config import EdgeConfigService
from agents.relay.forwarder import Forwarder
from agents.relay.grpc_server import UplinkService
from agents.relay.health import HealthMonitor
from agents.relay.live_http import LiveEndpoint
from agents.relay.media_http import MediaEndpoint
from agents.relay.revocations import RevocationPoller
from agents.relay.service import RelayAgent
from agents.relay.tunnel import RelayTunnel
from agents.relay.update_mirror import UpdateMirror
from cloud.api.fleet_metrics import FleetCollector
from cloud.core.state import CloudMetrics
from cloud.services.fleet import Fleet
from guardian.runtime.metrics import AgentMetrics

KEPT: Any = None  # a collaborator the constructor only stores

# What Prometheus itself makes: per scrape (up, scrape_*), and its alerts as series (ALERTS).
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"}


def series_names(registry: CollectorRegistry) -> set[str]:
    """The series names a family yields once it has samples (a counter's ``_total``, a histogram's
    ``_bucket``/``_sum``/``_count``, an info's ``_info``), labelled families included while still empty."""
    suffixes = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "info": ("_info",), "summary": ("", "_sum", "_count", "_created"), "unknown": ("",)}
    return {family.name + suffix for family in registry.collect() for suffix in suffixes[family.type]}


def edge_registry(workdir: Path) -> AgentMetrics:
    settings = EdgeSettings(storage={"data_dir": workdir / "edge"})
    # Each edge program has its own registry, all under guardian_edge_: one registry holds them all here.
    m = RecorderAgent(settings).metrics  # the recorder's own metrics and the video pipeline's
    Retention(KEPT, settings.retention, m)
    DetectorMetrics(m)
    MqttMetrics.on(m)
    UplinkAgent(settings, m)
    UplinkClient(KEPT, "relay:1", settings.uplink, m)
    ConfigWatch(KEPT, "relay:1", KEPT, "dev-x", settings.uplink, m)
    enrolment = Enrolment("dev-x", "t", "https://relay.invalid", "10.77.0.2", 24, "A" * 43 + "=",
                          "relay.invalid:51820", "10.77.0.1", 50051, 50052, 25)
    EdgeTunnel(settings, enrolment, m)
    with grpc.insecure_channel("127.0.0.1:1") as channel:  # only its method stubs are made: sync serves as aio
        ArchiveUploader(KEPT, workdir / "edge", settings.archive, KEPT, channel, m)  # type: ignore[arg-type]
    return m


def relay_registry(workdir: Path) -> AgentMetrics:
    cloud = RelayCloudSettings(relay_id="r", tenant_id="t")
    enrolment = {"tls_cert_file": workdir / "cert.pem", "tls_key_file": workdir / "key.pem",
                 "public_endpoint": "relay.invalid:51820", "token_public_keys": []}
    settings = RelaySettings(cloud=cloud, enrolment=enrolment)
    m = RelayAgent(settings).metrics  # the agent's own (the served certificate's expiry)
    media = MediaSettings()
    endpoint: dict[str, Any] = {"tenant_id": "t", "token_keys": KEPT, "devices": KEPT, "client": KEPT, "metrics": m}
    CameraEndpoint(settings=media, **endpoint)
    MediaEndpoint(settings=media, **endpoint)
    LiveEndpoint(media=media, settings=LiveSettings(), turn_secret=b"s", **endpoint)
    UplinkService(KEPT, KEPT, m)
    EdgeConfigService(KEPT, KEPT, KEPT, KEPT, m)
    RelayTunnel(TunnelSettings(private_key_file=workdir / "relay" / "wireguard.key"), KEPT, m)
    ConfigPuller(cloud, KEPT, KEPT, KEPT, m)
    health = HealthMonitor(KEPT, HealthSettings(), m)
    Forwarder(cloud, KEPT, health, KEPT, m)
    RevocationPoller(cloud, KEPT, KEPT, m)
    ArchiveService(KEPT, KEPT, KEPT, KEPT, KEPT, workdir / "relay" / "spool", m)
    UpdateMirror(UpdatesSettings(), m)
    return m


def cloud_series() -> set[str]:
    """A cloud process's own metrics and the fleet gauges /metrics adds to them."""
    fleet = CollectorRegistry(auto_describe=False)
    fleet.register(FleetCollector(Fleet()))
    return series_names(CloudMetrics().registry.registry) | series_names(fleet)


def exported_series(workdir: Path) -> dict[str, set[str]]:
    """Program -> the series names it exports; ``prometheus`` -> what every scrape adds."""
    return {
        "edge": series_names(edge_registry(workdir).registry),
        "relay": series_names(relay_registry(workdir).registry),
        "cloud": cloud_series(),
        "prometheus": set(PROMETHEUS_SERIES),
    }
