"""Backoff delays grow exponentially up to the cap, stay jittered, and start over after a reset."""

from __future__ import annotations

import random

from guardian.runtime.backoff import Backoff, backoff_delay


def test_full_jitter_stays_within_the_growing_ceiling_and_the_cap():
    backoff = Backoff(0.5, 8.0, rng=random.Random(1))
    for attempt in range(12):
        ceiling = min(8.0, 0.5 * 2**attempt)
        assert 0 <= backoff.next_delay() <= ceiling
    delays = {round(backoff_delay(3, 0.5, 8.0, rng=random.Random(seed)), 6) for seed in range(20)}
    assert len(delays) > 10, "full jitter must spread retries"


def test_equal_jitter_keeps_half_the_delay():
    rng = random.Random(2)
    for attempt in range(10):
        ceiling = min(30.0, 1.0 * 2**attempt)
        delay = backoff_delay(attempt, 1.0, 30.0, "equal", rng)
        assert ceiling / 2 <= delay <= ceiling


def test_reset_starts_over_and_huge_attempts_do_not_overflow():
    backoff = Backoff(1.0, 60.0, jitter="equal", rng=random.Random(3))
    for _ in range(5000):
        backoff.next_delay()
    assert 30.0 <= backoff.next_delay() <= 60.0
    backoff.reset()
    assert 0.5 <= backoff.next_delay() <= 1.0
