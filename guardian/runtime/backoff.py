"""Exponential backoff with jitter, shared by every reconnect and retry loop.

Jitter keeps many devices (or many cameras behind one switch that rebooted) from retrying in lock-step.
"Full" jitter draws the whole delay at random (AWS's recommendation for contended servers); "equal"
jitter keeps half of it fixed, so a flapping camera is never retried almost immediately.
"""

from __future__ import annotations

import random
from typing import Literal

# 2**32 times any sane base is far past every cap; the bound keeps the float from overflowing.
_MAX_EXPONENT = 32


def backoff_delay(
    attempt: int,
    base_s: float,
    cap_s: float,
    jitter: Literal["full", "equal"] = "full",
    rng: random.Random | None = None,
) -> float:
    """The delay before retry number ``attempt`` (0 for the first retry)."""
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt, _MAX_EXPONENT))
    draw = (rng or random).uniform
    if jitter == "equal":
        return ceiling / 2 + draw(0, ceiling / 2)
    return draw(0, ceiling)


class Backoff:
    """Counts consecutive failures and hands out the next delay; ``reset`` after a success."""

    def __init__(
        self,
        base_s: float,
        cap_s: float,
        jitter: Literal["full", "equal"] = "full",
        rng: random.Random | None = None,
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.jitter = jitter
        self.rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        delay = backoff_delay(self.attempt, self.base_s, self.cap_s, self.jitter, self.rng)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
