"""The detector under several camera threads: concurrent submissions all complete (OpenVINO's
AsyncInferQueue is not safe to feed from several threads: without the detector's lock two cameras were
handed the same request, "Infer Request is busy" killed one camera's thread and the request was lost for
good), and a camera thread that dies ends the agent, so systemd restarts it, instead of leaving that
camera undetected."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import numpy as np

from agents.edge.config import EdgeSettings
from agents.edge.detection.detector import Detector
from agents.edge.detection.service import DetectorAgent
from agents.edge.models.store import ModelStore
from guardian.runtime.errors import EX_SOFTWARE
from guardian.runtime.service import serve


def test_cameras_submitting_at_once_all_get_their_results(model_store: ModelStore, footage):
    stored = model_store.get("nanodet")
    results: list[object] = []
    lock = threading.Lock()

    def collect(result) -> None:
        with lock:
            results.append(result.userdata)

    detector = Detector(stored, model_store.load(stored), num_requests=2, on_result=collect)
    frames = [f[::2, ::2].copy() for _, f in footage[:40]]  # 384×288: quick inferences, many submissions
    errors: list[BaseException] = []
    submitted = [0] * 6

    def camera(index: int) -> None:
        try:
            for round_ in range(4):
                for k, frame in enumerate(frames):
                    # Half blocking (the benchmark), half dropping when busy (the service).
                    if detector.submit(frame, (index, round_, k), block=index % 2 == 0):
                        submitted[index] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=camera, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a camera thread is stuck in submit"
    detector.wait()
    assert errors == []
    assert submitted[0] == submitted[2] == submitted[4] == 4 * len(frames)  # blocking submitters never drop
    assert len(results) == sum(submitted) and len(set(results)) == len(results)
    assert detector.in_flight == 0 and detector.idle()


class _BrokenReader:
    """A frame reader whose second frame breaks (as an unexpected bug in reading would)."""

    def __init__(self, name: str, url: str, fps: float, options: object, **_decoding: object) -> None:
        self.name = name

    def __iter__(self):
        class _Frame:
            time = datetime.now(UTC)

            @staticmethod
            def bgr() -> np.ndarray:
                return np.zeros((288, 384, 3), np.uint8)

        yield _Frame()
        raise RuntimeError("the decoder fell over")

    def close(self) -> None:
        pass


def test_a_camera_thread_that_dies_ends_the_agent(model_store: ModelStore, tmp_path, monkeypatch):
    monkeypatch.setattr("agents.edge.detection.pipeline.FrameReader", _BrokenReader)
    settings = EdgeSettings(
        storage={"data_dir": tmp_path / "data"}, models={"store_dir": model_store.root, "reload_interval_s": 0.5},
        metrics={"port": 0},
        cameras=[{"name": "front", "record_url": "rtsp://127.0.0.1:9/unused"}],
    )
    agent = DetectorAgent(settings)
    code = asyncio.run(asyncio.wait_for(serve(agent), timeout=120))
    assert code == EX_SOFTWARE
    assert agent.service is not None
    failure = agent.service.pipelines["front"].failure
    assert isinstance(failure, RuntimeError) and "decoder fell over" in str(failure)
