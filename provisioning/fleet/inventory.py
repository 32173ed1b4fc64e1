"""The edges of a pyinfra inventory file (its ``edges`` group) and the relay each is reached through."""

from __future__ import annotations

import runpy

from fleet.plan import Edge


def edges_of(inventory: str) -> list[Edge]:
    """Hosts are ``name`` or ``(name, data)``; the relay is host data ``edge_relay`` (see group_data/edges.py)."""
    edges = []
    for entry in runpy.run_path(inventory).get("edges", []):
        name, data = (entry[0], entry[1] if len(entry) > 1 else {}) if isinstance(entry, (tuple, list)) else (entry, {})
        edges.append(Edge(name=str(name), relay=str(data.get("edge_relay") or "")))
    return edges
