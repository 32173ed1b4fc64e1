"""Settings of the edge uplink (the ``[uplink]`` section of edge.toml)."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from guardian.runtime.config import Section

# The series the scrape proxy passes to the relay: what the operator's alert rules and dashboard read
# (observability/; tests/observability/test_scrape_keep.py keeps the two lists equal) and a few node gauges
# for a first look at a box. Everything else stays on the edge: a 4G site's tunnel pays for every byte.
KEPT_SERIES: tuple[str, ...] = (
    "guardian_edge_outbox_length",
    "guardian_edge_release_rolled_back",
    "guardian_edge_retention_disk_free_bytes",
    "guardian_edge_retention_free_floor_bytes",
    "guardian_edge_video_disk_full",
    "guardian_edge_video_segments_total",
    "guardian_edge_video_streaming",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "node_load1",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemTotal_bytes",
)


class ScrapeProxySettings(Section):
    """The relay's Prometheus reaches the edge agents' loopback exporters through the uplink
    (agents/edge/uplink/scrape_proxy.py); ports as units/guardian-edge-*.service set them."""

    enabled: bool = Field(True, description="Serve /metrics/<agent> on the tunnel address (wireguard mode).")
    port: int = Field(9460, ge=1, le=65535, description="TCP port on the tunnel address (the relay's scrape targets).")
    timeout_s: float = Field(
        5.0, gt=0, le=30, description="Time-out per connect and read of an agent's exporter (a dead agent is a 503)."
    )
    targets: dict[str, str] = Field(
        default_factory=lambda: {
            "recorder": "http://127.0.0.1:9464/metrics",
            "detector": "http://127.0.0.1:9465/metrics",
            "uplink": "http://127.0.0.1:9466/metrics",
            "archive": "http://127.0.0.1:9467/metrics",
            "node": "http://127.0.0.1:9100/metrics",
        },
        description="Agent name (the path /metrics/<name>) -> its exporter on loopback.",
    )
    filter: bool = Field(
        True, description="Pass only kept_series (gzipped when the relay asks); false passes every series as sent."
    )
    kept_series: list[str] = Field(
        default_factory=lambda: list(KEPT_SERIES), description="Series names passed to the relay when filter is on."
    )
    idle_timeout_s: float = Field(
        600.0, ge=0, description="How long the relay's connection is kept open between scrapes (0: closed after each)."
    )

    @field_validator("targets")
    @classmethod
    def _loopback_only(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            host = urlsplit(url).hostname
            # The proxy must not become a way from the tunnel into the LAN.
            if urlsplit(url).scheme != "http" or host is None or not ip_address(host).is_loopback:
                raise ValueError(f"targets.{name}: an http:// URL on a loopback address, not {url!r}")
        return value


class UplinkSettings(Section):
    mode: Literal["wireguard", "tls"] = Field(
        "wireguard",
        description="wireguard: gRPC inside a WireGuard tunnel to the relay (production). tls: gRPC over "
        "mutual TLS straight to the relay (the local demo), selected explicitly.",
    )
    state_dir: Path | None = Field(
        None, description="Keys and the enrolment record (default: <storage.data_dir>/uplink)."
    )
    database: Path | None = Field(
        None, description="Deprecated, use storage.database (still accepted for one release, with a warning)."
    )
    relay_ca_file: Path | None = Field(
        None, description="CA that signed the relay's enrolment certificate (default: the system's CAs)."
    )
    interface: str = Field("wg-guardian", max_length=15, description="WireGuard interface name.")
    implementation: Literal["auto", "kernel", "userspace"] = Field(
        "auto", description="auto: kernel WireGuard when the kernel has it, else wireguard-go."
    )
    heartbeat_interval_s: float = Field(10.0, gt=0, description="Heartbeat period on the uplink stream.")
    heartbeat_stamp: Path | None = Field(
        None,
        description="A file touched whenever the relay acknowledges a heartbeat, removed at start; the image's boot "
        "assessment waits for it (the unit sets it under its runtime directory). None: not written.",
    )
    telemetry_interval_s: float = Field(30.0, gt=0, description="How often a telemetry sample is queued (sooner when a camera's state changed, at most one per third of this).")
    max_in_flight: int = Field(512, ge=1, le=10_000, description="Messages sent but not yet acknowledged, at most.")
    batch_size: int = Field(256, ge=1, description="Outbox rows read per query.")
    poll_interval_s: float = Field(0.02, gt=0, description="How often the outbox is checked for new rows.")
    ack_timeout_s: float = Field(30.0, gt=0, description="No ack for this long: the stream is restarted.")
    backoff_base_s: float = Field(0.5, gt=0, description="First reconnect delay (doubles, with full jitter).")
    backoff_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay.")
    stop_flush_s: float = Field(
        5.0, ge=0, description="On an orderly stop, keep sending what is in the event outbox for up to this long "
        "(the detector, stopped first, leaves its last \"ended\" updates there); 0: stop at once.",
    )
    tunnel_check_interval_s: float = Field(5.0, gt=0, description="How often the tunnel's health is checked.")
    outbox_max_items: int = Field(200_000, ge=100, description="Above this, telemetry is dropped (oldest first).")
    outbox_max_telemetry: int = Field(10_000, ge=10, description="Telemetry samples kept at most.")
    outbox_max_events: int = Field(
        1_000_000, ge=100, description="Hard cap on queued events: beyond it the oldest are dropped (and counted)."
    )
    media_address: str | None = Field(
        None,
        description="tls mode only: where the EdgeMedia server listens (default, and what the relay dials: the "
        "loopback address the relay allocated at enrolment; wireguard mode: always the tunnel address).",
    )
    detector_metrics_url: str | None = Field(
        "http://127.0.0.1:9465/metrics",
        description="The detector's Prometheus endpoint on loopback; telemetry's inference latency is the "
        "median of its guardian_edge_detection_inference_seconds histogram since the previous sample. "
        "None: not reported.",
    )

    scrape_proxy: ScrapeProxySettings = Field(
        default_factory=ScrapeProxySettings, description="The edge agents' metrics for the relay, on the tunnel."
    )

    @model_validator(mode="after")
    def _tls_needs_relay_ca(self) -> UplinkSettings:
        if self.mode == "tls" and self.relay_ca_file is None:
            # The same CA verifies the relay's uplink server; mutual TLS needs it spelled out.
            raise ValueError("uplink.mode = 'tls' needs uplink.relay_ca_file (the CA of the relay's certificate)")
        return self
