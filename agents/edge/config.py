"""The edge appliance's settings: one TOML file (default /etc/guardian/edge.toml) shared by its services."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

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


class EdgeSettings(AgentSettings):
    model_config = SettingsConfigDict(env_prefix="GUARDIAN_EDGE_")

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.", pattern=r"^(?i:debug|info|warning|error)$")
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    cameras: list[CameraSettings] = Field(default_factory=list, description="The cameras this appliance watches.")

    @field_validator("cameras")
    @classmethod
    def _unique_names(cls, cameras: list[CameraSettings]) -> list[CameraSettings]:
        names = [c.name for c in cameras]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"camera names must be unique; repeated: {', '.join(duplicates)}")
        return cameras
