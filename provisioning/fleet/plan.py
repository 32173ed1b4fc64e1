"""The rollout's stages: a canary, then waves, each a percentage of the fleet, with the edges of every relay
spread over the stages (a relay's edges are not updated all at once, and each wave tests several relays).

Pure functions: no I/O, so the plan for any fleet size can be checked (tests) and projected (bench).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CANARY_PERCENT = 5
WAVE_PERCENT = 25
# A relay's tunnel network is a /24 (agents/relay/config.py): 254 addresses, the first is the relay's own.
EDGES_PER_FULL_RELAY = 253


@dataclass(frozen=True)
class Edge:
    name: str  # the inventory host name
    relay: str  # its relay (host data ``edge_relay``); "" if the inventory does not say


@dataclass(frozen=True)
class Stage:
    name: str  # "canary", "wave 1", "wave 2", …
    edges: tuple[Edge, ...]
    fail_percent: int  # more failed edges than this share (of the stage) stops the rollout


def share(fleet_size: int, percent: float) -> int:
    """``percent`` of the fleet in edges, rounded up, at least 1."""
    return max(1, math.ceil(fleet_size * percent / 100))


def full_relay_wave(wave_percent: float = WAVE_PERCENT) -> int:
    """A wave's share of a full relay's edges: the jump connections its sshd takes at once when a fleet of full
    relays is rolled out (provisioning/tasks/relay.py sizes MaxStartups for it)."""
    return share(EDGES_PER_FULL_RELAY, wave_percent)


def spread_relays(edges: Iterable[Edge]) -> list[Edge]:
    """Round-robin over the relays (in the order they first appear), keeping each relay's order of edges:
    any run of consecutive edges then covers as many relays as it can."""
    queues: dict[str, list[Edge]] = {}
    for edge in edges:
        queues.setdefault(edge.relay, []).append(edge)
    spread: list[Edge] = []
    for row in range(max((len(q) for q in queues.values()), default=0)):
        spread += [q[row] for q in queues.values() if row < len(q)]
    return spread


def plan(edges: Sequence[Edge], *, fleet_size: int | None = None, canary_percent: float = CANARY_PERCENT,
         wave_percent: float = WAVE_PERCENT, fail_percent: int = 0, canary_needed: bool = True) -> list[Stage]:
    """The stages that update ``edges``, sized against ``fleet_size`` (default: all of ``edges``; on resume,
    the whole inventory, so waves keep their size). The canary tolerates no failure; the waves
    ``fail_percent``. ``canary_needed=False`` (a resumed rollout whose canary passed) starts with the waves."""
    if not 0 < canary_percent <= 100 or not 0 < wave_percent <= 100 or not 0 <= fail_percent <= 100:
        raise ValueError("canary and wave are percentages in (0, 100], fail_percent in [0, 100]")
    size = fleet_size if fleet_size is not None else len(edges)
    ordered = spread_relays(edges)
    stages: list[Stage] = []
    if canary_needed and ordered:
        count = share(size, canary_percent)
        stages.append(Stage("canary", tuple(ordered[:count]), 0))
        ordered = ordered[count:]
    step = share(size, wave_percent)
    for number, start in enumerate(range(0, len(ordered), step), start=1):
        stages.append(Stage(f"wave {number}", tuple(ordered[start:start + step]), fail_percent))
    return stages


def too_many_failed(failed: int, stage_size: int, fail_percent: int) -> bool:
    """pyinfra's rule (``--fail-percent``): stop when the failed share is above the threshold."""
    return stage_size > 0 and failed * 100 > fail_percent * stage_size
