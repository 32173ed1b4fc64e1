"""The edge appliance's settings: one TOML file (default /etc/guardian/edge.toml) shared by its services."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from agents.edge.archive.config import ArchiveSettings
from agents.edge.detection.config import DetectionSettings, ModelsSettings
from agents.edge.uplink.config import UplinkSettings
from guardian.runtime.config import AgentSettings, Section
from guardian.runtime.metrics import MetricsSettings

DEFAULT_CONFIG = "/etc/guardian/edge.toml"


class CameraSettings(Section):
    name: str = Field(description="Short unique name, used in paths and events.", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    record_url: str = Field(description="RTSP URL of the main stream, recorded as is (may hold credentials).")
    detect_url: str | None = Field(None, description="Optional sub-stream URL for detection; main stream if unset.")
    enabled: bool = Field(True, description="A disabled camera is neither recorded nor watched.")

    @field_validator("record_url", "detect_url")
    @classmethod
    def _rtsp(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("rtsp://", "rtsps://")):
            raise ValueError("must be an rtsp:// or rtsps:// URL")
        return value


class StorageSettings(Section):
    data_dir: Path = Field(Path("/var/lib/guardian-edge"), description="Recordings, clips, database.")
    database: Path | None = Field(
        None, description="The edge SQLite file every edge service shares (default: <storage.data_dir>/edge.db)."
    )


class RecordingSettings(Section):
    segment_seconds: float = Field(10.0, ge=2, le=300, description="Length of a continuous-recording segment (cut at the next keyframe).")
    transport: str = Field("tcp", pattern=r"^(tcp|udp)$", description="RTSP transport; TCP survives loss and NAT.")
    open_timeout_s: float = Field(10.0, gt=0, le=120, description="Time allowed to connect and get the stream.")
    stall_timeout_s: float = Field(5.0, gt=0, le=120, description="No packet for this long while streaming: reconnect.")
    backoff_initial_s: float = Field(0.5, gt=0, le=60, description="First reconnect delay; doubles per failure, jittered.")
    # Low on purpose: a reconnect attempt to a camera is one TCP connection, while each second waited
    # after the camera is back is a second not recorded (a 30 s cap once turned a 30 s outage into a 55 s gap).
    backoff_max_s: float = Field(
        2.0, gt=0, le=10,
        description="Longest reconnect delay (jittered: each wait is between half of it and all of it); at most 10 s.",
    )
    fsync: bool = Field(True, description="fsync every completed segment before indexing it.")


class RetentionSettings(Section):
    continuous_days: float = Field(7.0, gt=0, description="Keep continuous recordings this many days.")
    events_days: float = Field(30.0, gt=0, description="Keep event clips this many days.")
    min_free_bytes: int = Field(
        2 * 1024**3, ge=0,
        description="Free disk space to keep (the floor that keeps the disk from ever filling); oldest footage goes first "
        "below it. Should exceed what the cameras write in interval_s. If the disk fills anyway, retention frees space "
        "at once and keeps a higher floor for the rest of the run.",
    )
    min_free_percent: float = Field(5.0, ge=0, le=90, description="Free disk space to keep, in percent of the filesystem (the larger of the two applies).")
    max_bytes: int | None = Field(None, ge=0, description="Optional budget: most bytes recordings and clips may use (the free-space floor still applies).")
    interval_s: float = Field(30.0, gt=0, le=3600, description="How often retention runs (also at once on a write error).")


class EdgeSettings(AgentSettings):
    model_config = SettingsConfigDict(env_prefix="GUARDIAN_EDGE_")

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.", pattern=r"^(?i:debug|info|warning|error)$")
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    cameras: list[CameraSettings] = Field(default_factory=list, description="The cameras this appliance watches.")
    recording: RecordingSettings = Field(default_factory=RecordingSettings, description="Continuous recording.")
    retention: RetentionSettings = Field(default_factory=RetentionSettings, description="What footage is kept.")
    detection: DetectionSettings = Field(default_factory=DetectionSettings, description="Object detection.")
    models: ModelsSettings = Field(default_factory=ModelsSettings, description="The detection model store.")
    uplink: UplinkSettings = Field(default_factory=UplinkSettings, description="The link to the relay.")
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings, description="The encrypted off-site archive.")

    @field_validator("cameras")
    @classmethod
    def _unique_names(cls, cameras: list[CameraSettings]) -> list[CameraSettings]:
        names = [c.name for c in cameras]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"camera names must be unique; repeated: {', '.join(duplicates)}")
        return cameras

    @model_validator(mode="after")
    def _one_database(self) -> EdgeSettings:
        # The old [uplink] database key (until the release after this one) means [storage] database.
        old = self.uplink.database
        if old is not None:
            if self.storage.database is not None and self.storage.database != old:
                raise ValueError(
                    f"storage.database ({self.storage.database}) and the deprecated uplink.database ({old}) name "
                    "different files; set only storage.database"
                )
            self.storage.database = old
        return self

    def deprecations(self) -> list[str]:
        """One line per deprecated key in use, for the services' start-up log and check-config."""
        lines = super().deprecations()  # deprecated credential names
        if self.uplink.database is None:
            return lines
        return [*lines, "uplink.database is deprecated and will be removed: set storage.database instead"]
