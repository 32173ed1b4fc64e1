"""Telemetry samples: CPU, memory, disk, network (from /proc), cameras, outbox length, inference
latency and tunnel health, queued in the outbox like events (after them in priority).

Camera status and inference latency come from the video and detection services through small
Protocols; until those publish them, :class:`ConfiguredCameras` reports what the config says.
"""

from __future__ import annotations

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
        self._last_cpu = _cpu_times()

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
