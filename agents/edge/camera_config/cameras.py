"""The cameras the recorder and the detector run, read from the ``cameras`` table (edge.toml's until a
desired config is applied, the desired config's after), and their stream URLs.

The services re-read this every few seconds (hot reload): a :class:`CameraSpec` compares equal while
nothing that matters to the stream changed. Sealed credentials are opened, and inserted into the URL, only
when a stream is opened (:meth:`CameraSpec.record_stream_url`); the result lives in memory only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from agents.common.sqlite import WriterSession
from agents.edge.camera_config.errors import CredentialsUnavailable
from agents.edge.camera_config.key import ConfigKey, with_credentials
from agents.edge.db.tables import Camera


@dataclass(frozen=True)
class CameraSpec:
    name: str
    record_url: str
    detect_url: str | None
    record_credentials: bytes | None
    detect_credentials: bytes | None
    detection_json: str  # the camera's DetectionConfig (proto3 JSON), "" for the edge's defaults

    def record_source(self) -> tuple[str, bytes | None]:
        """What the recorded stream depends on: a change restarts the recorder (the detection settings do not)."""
        return self.record_url, self.record_credentials

    def detect_source(self) -> tuple[str, bytes | None]:
        """What the detected stream depends on: a change restarts the camera's detection."""
        if self.detect_url is None:
            return self.record_source()
        return self.detect_url, self.detect_credentials

    def record_stream_url(self, keys: KeySource) -> str:
        return self._url(self.record_url, self.record_credentials, keys)

    def detect_stream_url(self, keys: KeySource) -> str:
        if self.detect_url is None:
            return self.record_stream_url(keys)
        return self._url(self.detect_url, self.detect_credentials, keys)

    def _url(self, url: str, sealed: bytes | None, keys: KeySource) -> str:
        if sealed is None:
            return url
        key = keys.get()
        if key is None:
            raise CredentialsUnavailable(self.name, "this edge has no config key")
        return with_credentials(url, key.open(self.name, sealed))


class KeySource:
    """The config key, read from its file when first needed (the uplink makes it; the recorder and the
    detector only read it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: ConfigKey | None = None

    def get(self) -> ConfigKey | None:
        if self._key is None:
            self._key = ConfigKey.load(self.path)
        return self._key


def runnable_cameras(sessions: sessionmaker[WriterSession]) -> list[CameraSpec]:
    """The enabled cameras whose config applied (not failed, not removed), by name."""
    with sessions() as session:
        rows = session.scalars(select(Camera).where(Camera.enabled.is_(True)).order_by(Camera.name))
        return [
            CameraSpec(r.name, r.record_url, r.detect_url, r.record_credentials, r.detect_credentials, r.detection_json)
            for r in rows
            if r.config_state not in ("failed", "removed")
        ]


def camera_changes(
    running: Mapping[str, CameraSpec], wanted: Sequence[CameraSpec], unopenable: Mapping[str, CameraSpec],
    source: Callable[[CameraSpec], object],
) -> tuple[list[str], list[CameraSpec]]:
    """What a service (the recorder, the detector) must change so that the cameras it runs match
    ``wanted``: the names to stop (gone, disabled, or whose ``source`` changed) and the specs to start
    (new, or stopped for a change). A camera whose credentials could not be opened is tried again only
    once its ``source`` changed."""
    by_name = {spec.name: spec for spec in wanted}
    stop = [name for name, spec in running.items() if name not in by_name or source(by_name[name]) != source(spec)]
    start = [
        spec for spec in wanted
        if (spec.name not in running or spec.name in stop)
        and not (spec.name in unopenable and source(unopenable[spec.name]) == source(spec))
    ]
    return stop, start
