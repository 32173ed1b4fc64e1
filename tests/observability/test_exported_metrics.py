"""The catalogue of exported metrics (tests/observability/exported_metrics.py) is complete: every metric an
agent or the cloud declares in its code is in the registries it builds. Without this, a new component's
metrics would be unknown to the rule and dashboard checks."""

from __future__ import annotations

import ast

from tests.observability.conftest import ROOT

KINDS = {"counter": "_total", "gauge": "", "histogram": "_count", "info": "_info"}
PROGRAMS = {"agents/edge": "edge", "agents/relay": "relay", "cloud": "cloud"}


def declared() -> dict[str, set[str]]:
    """Program -> the series names its code declares with AgentMetrics.counter/gauge/histogram/info."""
    found: dict[str, set[str]] = {program: set() for program in PROGRAMS.values()}
    for directory, program in PROGRAMS.items():
        for path in (ROOT / directory).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in KINDS and len(node.args) >= 2):
                    continue
                subsystem, name = node.args[0], node.args[1]
                if isinstance(subsystem, ast.Constant) and isinstance(name, ast.Constant) \
                        and isinstance(subsystem.value, str) and isinstance(name.value, str):
                    base = f"guardian_{program}_{subsystem.value}_{name.value}".removesuffix("_total")
                    found[program].add(base + KINDS[node.func.attr])
    return found


def test_catalogue_covers_every_declaration(exported: dict[str, set[str]]) -> None:
    code = declared()
    assert len(code["edge"]) > 30 and len(code["relay"]) > 30 and len(code["cloud"]) > 5  # the scan finds them
    for program, names in code.items():
        assert names - exported[program] == set(), f"{program}: declared but not in the catalogue"
