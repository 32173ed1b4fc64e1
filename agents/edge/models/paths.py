"""Where the model store and the download cache are (the detector and ``guardian-edge models`` agree)."""

from __future__ import annotations

import os
from pathlib import Path

from agents.edge.config import EdgeSettings


def store_dir(settings: EdgeSettings) -> Path:
    return settings.models.store_dir or settings.storage.data_dir / "models"


def cache_dir(settings: EdgeSettings) -> Path:
    return settings.models.cache_dir or Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian"))
