"""The motion gate's per-cell counting (two integer sums) gives what the plain block mean gave, frame for
frame, on the footage and on noise; the downscale works on views that are not contiguous; while tracking
the gate analyses one frame in N and its background keeps pace."""

from __future__ import annotations

import numpy as np

from agents.edge.detection.config import MotionSection
from agents.edge.detection.motion import MotionDetector, MotionGate, MotionResult, downscale_grey


class PlainMotion:
    """The gate's analysis written the plain numpy way (the reference)."""

    def __init__(self, s: MotionSection) -> None:
        self.s, self.background, self.noise = s, None, None

    def analyse(self, frame: np.ndarray) -> MotionResult:
        s = self.s
        h, w = frame.shape[:2]
        f = max(1, w // s.width)
        hh, ww = (h // f) * f, (w // f) * f
        grey = frame[:hh, :ww, 1].reshape(hh // f, f, ww // f, f).mean(axis=(1, 3)).astype(np.float32)
        if self.background is None:
            self.background = grey.copy()
            self.noise = np.zeros_like(grey)
            return MotionResult(0, 0.0, None)
        difference = np.abs(grey - self.background)
        changed = (difference > s.pixel_threshold) & (difference > s.noise_factor * self.noise)
        self.noise += MotionDetector.noise_alpha * (difference - self.noise)
        self.background += MotionDetector.background_alpha * (grey - self.background)
        c = MotionDetector.cell
        gh, gw = changed.shape[0] // c, changed.shape[1] // c
        cells = changed[: gh * c, : gw * c].reshape(gh, c, gw, c).mean(axis=(1, 3))
        moving = cells >= MotionDetector.cell_fraction
        count = int(moving.sum())
        if count < s.min_cells:
            return MotionResult(count, count / moving.size, None)
        ys, xs = np.nonzero(moving)
        region = (xs.min() / gw, ys.min() / gh, (xs.max() + 1) / gw, (ys.max() + 1) / gh)
        return MotionResult(count, count / moving.size, tuple(float(v) for v in region))


def test_cells_and_regions_match_the_plain_computation(footage):
    settings = MotionSection()
    fast, plain = MotionDetector(settings), PlainMotion(settings)
    rng = np.random.default_rng(3)
    frames = [f for _, f in footage[:120]]
    # Noise bursts of every size, so cells sit right at the changed-fraction threshold too.
    for i in range(0, 120, 7):
        y, x = rng.integers(0, 500), rng.integers(0, 700)
        frames[i] = frames[i].copy()
        frames[i][y : y + rng.integers(4, 80), x : x + rng.integers(4, 80)] = rng.integers(0, 256, 3, dtype=np.uint8)
    moving = 0
    for frame in frames:
        a, b = fast.analyse(frame), plain.analyse(frame)
        assert a.moving_cells == b.moving_cells and a.region == b.region and a.fraction == b.fraction
        moving += a.region is not None
    assert moving > 30


def test_downscale_of_views():
    rng = np.random.default_rng(4)
    frame = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)
    for view in (frame[:, ::-1], frame[10:590, 7:791], frame[::2, ::2]):
        np.testing.assert_array_equal(downscale_grey(view, 160), downscale_grey(np.ascontiguousarray(view), 160))


def test_while_tracking_one_frame_in_n_is_analysed_and_the_background_keeps_up(footage):
    """Tracking infers every frame anyway: the gate analyses 1 in ``tracking_analysis_every`` then, and
    its background still follows the scene at the per-second pace of analysing every frame — a change
    that happened while tracking (a car parked) is background once the scene calms down."""
    still = footage[0][1]
    parked = still.copy()
    parked[200:330, 300:480] = (40, 40, 200)  # a large block of new colour, 100+ grey levels off
    for every in (1, 5):
        gate = MotionGate(MotionSection(tracking_analysis_every=every))
        t = 0.0
        for _ in range(10):  # warm up on the empty scene
            gate.decide(still, t, tracking=False)
            t += 0.2
        analysed = 0
        for _ in range(60):  # 12 s of tracking; the car arrives and stays
            infer, reason, motion = gate.decide(parked, t, tracking=True)
            assert infer and reason in ("tracking", "motion")
            analysed += motion is not None
            t += 0.2
        assert analysed == 60 // every
        # Tracking is over: the parked car is part of the background, the scene static.
        gate.inferred(t)
        infer, reason, motion = gate.decide(parked, t, tracking=False)
        assert (infer, reason) == (False, "static") and motion is not None and motion.moving_cells == 0
        # Real motion is still seen at once.
        moved = parked.copy()
        moved[200:330, 100:280] = (40, 40, 200)
        assert gate.decide(moved, t + 0.2, tracking=False)[1] == "motion"


def test_without_the_weight_compensation_the_background_lags(footage):
    """The check above can fail: with the per-frame weight applied to 1 analysis in 5 the background lags
    (about 57 % of the way after 10 analyses) and the parked car still counts as motion. (The fixed
    threshold alone: the learned noise, which grows where the car arrived, would hide the lag.)"""
    still = footage[0][1]
    parked = still.copy()
    parked[200:330, 300:480] = (40, 40, 200)
    detector = MotionDetector(MotionSection(noise_factor=0))
    for _ in range(10):
        detector.analyse(still)
    for _ in range(12):
        detector.analyse(parked)  # frames_since=1: the uncompensated weight
    assert detector.analyse(parked).moving_cells > 0
    compensated = MotionDetector(MotionSection(noise_factor=0))
    for _ in range(10):
        compensated.analyse(still)
    for _ in range(12):
        compensated.analyse(parked, frames_since=5)
    assert compensated.analyse(parked, frames_since=5).moving_cells == 0
