"""What crosses an edge's tunnel: the uplink's scrape proxy passes only ``KEPT_SERIES``
(agents/edge/uplink/config.py), so that list must hold every edge series an alert rule or the dashboard
reads (or the alert never fires, the panel stays empty) and nothing else of the edge's (every other series
costs 4G bytes at each scrape and nobody reads it). Node exporter gauges are kept by choice (no rule reads
them); they are checked at the operator's in test_fleet_metrics.py."""

from __future__ import annotations

import json

import yaml

from agents.edge.uplink.config import KEPT_SERIES
from tests.observability.conftest import ROOT, RULES
from tests.observability.promql import metric_names


def read_by_rules_and_dashboards() -> set[str]:
    names: set[str] = set()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            names |= metric_names(rule["expr"])
    for dashboard in (ROOT / "observability" / "grafana").glob("*.json"):
        for panel in json.loads(dashboard.read_text())["panels"]:
            for target in panel["targets"]:
                names |= metric_names(target["expr"])
    return names


def test_the_edge_series_kept_are_exactly_those_rules_and_dashboards_read(exported: dict[str, set[str]]) -> None:
    kept_edge = {name for name in KEPT_SERIES if not name.startswith("node_")}
    assert kept_edge == read_by_rules_and_dashboards() & exported["edge"]
