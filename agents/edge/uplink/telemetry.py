"""Telemetry samples: CPU, memory, disk, network (from /proc), cameras, outbox length, inference
latency and tunnel health, queued in the outbox like events (after them in priority).

Camera status and inference latency come from the video and detection services through small
Protocols, without sharing memory with them:

- :class:`RecorderCameras` reads the ``cameras`` table the recorder updates every few seconds
  (:mod:`agents.edge.video.cameras`); a row the recorder has not touched for ``stale_after_s`` is
  reported as ``unknown`` (the recorder is not running), not with its last, outdated state.
- :class:`DetectorLatency` reads the detector's own Prometheus histogram
  (``guardian_edge_detection_inference_seconds``) from its loopback ``/metrics`` and reports the
  median of the inferences since the previous sample, interpolated within buckets as Prometheus'
  ``histogram_quantile`` does. No inference since then (or the detector not answering): nothing.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.orm import sessionmaker

from agents.edge import outbox
from agents.edge.config import CameraSettings
from agents.edge.outbox import OutboxKind
from guardian.contracts.edge.v1 import uplink_pb2
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.telemetry")


class CameraStatusSource(Protocol):
    def camera_status(self) -> list[uplink_pb2.CameraStatus]: ...


class InferenceLatencySource(Protocol):
    def latency_ms_p50(self) -> float | None: ...


@dataclass
class ConfiguredCameras:
    """Fallback camera status: ``disabled`` as configured, otherwise ``connecting`` (no live status yet)."""

    cameras: list[CameraSettings]

    def camera_status(self) -> list[uplink_pb2.CameraStatus]:
        return [
            uplink_pb2.CameraStatus(
                camera=c.name,
                state="connecting" if c.enabled else "disabled",
                reason="" if not c.enabled else "no live status from the recorder",
            )
            for c in self.cameras
        ]


_CONTRACT_STATES = {"connecting", "streaming", "failed", "disabled"}


class RecorderCameras:
    """Live camera states from the recorder's rows in the ``cameras`` table, for the cameras the edge has:
    edge.toml's (``configured``) until a desired config from the cloud is applied, then that config's."""

    def __init__(self, sessions: sessionmaker, configured: list[CameraSettings], stale_after_s: float = 60.0) -> None:
        self.sessions = sessions
        self.configured = configured
        self.stale_after_s = stale_after_s

    def camera_status(self) -> list[uplink_pb2.CameraStatus]:
        from datetime import UTC, datetime

        from agents.edge.camera_config.store import current_version
        from agents.edge.video.cameras import list_cameras

        rows = {c.name: c for c in list_cameras(self.sessions)}
        if current_version(self.sessions):  # the cloud's cameras replace edge.toml's (camera_config.store)
            cameras = [(r.name, r.enabled) for r in rows.values() if r.source == "desired" and r.config_state != "removed"]
        else:
            cameras = [(c.name, c.enabled) for c in self.configured]
        now = datetime.now(UTC)
        out = []
        for name, enabled in cameras:
            row = rows.get(name)
            if not enabled:
                out.append(uplink_pb2.CameraStatus(camera=name, state="disabled"))
                continue
            updated = row.updated_at if row is not None else None
            if updated is not None and updated.tzinfo is None:
                updated = updated.replace(tzinfo=UTC)
            if row is None or updated is None or (now - updated).total_seconds() > self.stale_after_s:
                # "" is the contract's "unknown" (edge.v1.CameraStatus.state).
                out.append(uplink_pb2.CameraStatus(camera=name, state="", reason="no recent status from the recorder"))
                continue
            state, reason = row.state, row.reason or ""
            if state not in _CONTRACT_STATES:  # the recorder's "stopped" (and anything newer)
                state, reason = "failed", reason or f"recorder reports {row.state!r}"
            status = uplink_pb2.CameraStatus(
                camera=name, state=state, reason=reason, fps=row.fps, bitrate_bps=row.bitrate_bps
            )
            if row.last_frame_at is not None:
                last = row.last_frame_at
                status.last_frame_at.FromDatetime(last.astimezone(UTC) if last.tzinfo else last.replace(tzinfo=UTC))
            out.append(status)
        return out


LATENCY_METRIC = "guardian_edge_detection_inference_seconds"


def _histogram_buckets(text: str, metric: str = LATENCY_METRIC) -> dict[float, float]:
    """Cumulative bucket counts (``le`` → count), summed over label sets, from Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != metric:
            continue
        for sample in family.samples:
            if sample.name == f"{metric}_bucket":
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    return buckets


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile over cumulative ``buckets``; None without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            if count == previous_count:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (count - previous_count)
        previous_bound, previous_count = bound, count
    return previous_bound


class _ScrapesAtDebug(logging.Filter):
    """httpx logs every request at INFO ("HTTP Request: GET …"); the scrape of the detector's /metrics
    runs every telemetry interval, so its lines are demoted to DEBUG (dropped unless the level is DEBUG).
    Other requests through httpx keep their INFO line."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or self.url not in record.getMessage():
            return True
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def _quiet_scrape_logs(url: str) -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _ScrapesAtDebug) and f.url == url for f in httpx_logger.filters):
        httpx_logger.addFilter(_ScrapesAtDebug(url))


class DetectorLatency:
    """Median inference latency (ms) since the previous call, from the detector's /metrics on loopback."""

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._previous: dict[float, float] = {}
        _quiet_scrape_logs(url)

    def latency_ms_p50(self) -> float | None:
        import httpx

        try:
            response = httpx.get(self.url, timeout=self.timeout_s)
            response.raise_for_status()
        except httpx.HTTPError:
            return None  # the detector is not running (or not yet): no figure rather than a stale one
        current = _histogram_buckets(response.text)
        previous, self._previous = self._previous, current
        if previous and all(current.get(le, 0.0) >= n for le, n in previous.items()):
            window = {le: n - previous.get(le, 0.0) for le, n in current.items()}
        else:
            window = current  # first sample, or the detector restarted (counters reset)
        median = histogram_quantile(0.5, window)
        return None if median is None else median * 1000.0


class NoInference:
    def latency_ms_p50(self) -> float | None:
        return None


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


def _memory_percent() -> float:
    info: dict[str, int] = {}
    with open("/proc/meminfo") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0])
    total = info.get("MemTotal", 0)
    available = info.get("MemAvailable", info.get("MemFree", 0))
    return 100.0 * (total - available) / total if total else 0.0


def _net_bytes() -> tuple[int, int]:
    rx = tx = 0
    with open("/proc/net/dev") as handle:
        for line in handle.readlines()[2:]:
            name, _, data = line.partition(":")
            if name.strip() == "lo":
                continue
            values = data.split()
            rx += int(values[0])
            tx += int(values[8])
    return rx, tx


def _disk_percent(path: Path) -> float:
    while not path.exists() and path != path.parent:
        path = path.parent
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    return 100.0 * (total - free) / total if total else 0.0


#: How often the uplink looks at the cameras' states between samples (a SQLite read of a few rows).
CAMERA_LOOK_S = 2.0


class SampleSchedule:
    """When to queue a telemetry sample: every ``interval_s``, and sooner when a camera's state changed since the
    last sample (a camera added from the UI shows online within seconds, a camera that fails shows it), but at
    most one sample per third of the interval: a flapping camera triples the telemetry at worst."""

    def __init__(self, interval_s: float, now: float) -> None:
        self.interval_s = interval_s
        self._sent_at = now
        self._states: tuple[tuple[str, str], ...] | None = None

    def due(self, states: tuple[tuple[str, str], ...], now: float) -> bool:
        since = now - self._sent_at
        if self._states is None:  # the first look: what is there now is the baseline
            self._states = states
        return since >= self.interval_s or (states != self._states and since >= self.interval_s / 3)

    def sent(self, states: tuple[tuple[str, str], ...], now: float) -> None:
        self._sent_at, self._states = now, states


def camera_states(statuses: list[uplink_pb2.CameraStatus]) -> tuple[tuple[str, str], ...]:
    return tuple((c.camera, c.state) for c in statuses)


class TelemetrySampler:
    def __init__(
        self,
        sessions: sessionmaker,
        data_dir: Path,
        cameras: CameraStatusSource,
        inference: InferenceLatencySource,
        tunnel_health: Callable[[], uplink_pb2.TunnelHealth | None],
        agent_version: str,
    ) -> None:
        self.sessions = sessions
        self.data_dir = data_dir
        self.cameras = cameras
        self.inference = inference
        self.tunnel_health = tunnel_health
        self.agent_version = agent_version
        try:
            self._last_cpu = _cpu_times()
        except OSError as exc:  # telemetry is not worth failing the uplink for; sample() reports it
            log.warning("cpu_times_unavailable", error=str(exc))
            self._last_cpu = (0, 0)

    def sample(self) -> uplink_pb2.Telemetry:
        total, idle = _cpu_times()
        d_total, d_idle = total - self._last_cpu[0], idle - self._last_cpu[1]
        self._last_cpu = (total, idle)
        rx, tx = _net_bytes()
        with self.sessions() as session:
            queued = outbox.length(session, OutboxKind.EVENT)
        at = Timestamp()
        at.FromNanoseconds(time.time_ns())
        telemetry = uplink_pb2.Telemetry(
            at=at,
            cpu_percent=100.0 * (d_total - d_idle) / d_total if d_total > 0 else 0.0,
            memory_percent=_memory_percent(),
            disk_used_percent=_disk_percent(self.data_dir),
            net_rx_bytes=rx,
            net_tx_bytes=tx,
            outbox_length=queued,
            inference_latency_ms_p50=self.inference.latency_ms_p50() or 0.0,
            agent_version=self.agent_version,
        )
        telemetry.cameras.extend(self.cameras.camera_status())
        health = self.tunnel_health()
        if health is not None:
            telemetry.tunnel.CopyFrom(health)
        return telemetry

    def enqueue_sample(self) -> uplink_pb2.Telemetry:
        telemetry = self.sample()
        with self.sessions() as session, session.begin():
            outbox.enqueue(session, OutboxKind.TELEMETRY, f"telemetry-{telemetry.at.seconds}", telemetry.SerializeToString())
        return telemetry
