"""The devices a rollout updates, from a pyinfra inventory file: its ``edges`` group and the relay each is reached
through, or its ``relays`` group (each its own relay)."""

from __future__ import annotations

import runpy

from fleet.plan import Edge

GROUPS = ("edges", "relays")


def edges_of(inventory: str, group: str = "edges") -> list[Edge]:
    """Hosts are ``name`` or ``(name, data)``; an edge's relay is host data ``edge_relay`` (see
    group_data/edges.py), a relay is its own."""
    if group not in GROUPS:
        raise ValueError(f"a rollout updates one of {GROUPS}, not {group!r}")
    edges = []
    for entry in runpy.run_path(inventory).get(group, []):
        name, data = (entry[0], entry[1] if len(entry) > 1 else {}) if isinstance(entry, (tuple, list)) else (entry, {})
        relay = name if group == "relays" else data.get("edge_relay")
        edges.append(Edge(name=str(name), relay=str(relay or "")))
    return edges
