"""The Grafana dashboard (observability/grafana/*.json) loads, uses the dashboard's Prometheus data source
variable, and every query reads only metrics the programs export (or Prometheus makes)."""

from __future__ import annotations

import json

import pytest

from tests.observability.conftest import ROOT
from tests.observability.promql import metric_names

DASHBOARDS = sorted((ROOT / "observability" / "grafana").glob("*.json"))


def test_there_is_a_fleet_dashboard() -> None:
    assert [d.name for d in DASHBOARDS] == ["fleet-health.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_reads_exported_metrics(path, all_exported: set[str]) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    assert [v["name"] for v in dashboard["templating"]["list"] if v["type"] == "datasource"] == ["datasource"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    missing = {}
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        names = set().union(*(metric_names(t["expr"]) for t in panel["targets"]))
        assert names, f"{panel['title']}: no metric read"
        if names - all_exported:
            missing[panel["title"]] = sorted(names - all_exported)
    assert missing == {}
