"""Fixtures for the operator's observability: the metric names the programs export (real registries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.observability.exported_metrics import exported_series

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "observability" / "rules" / "guardian.rules.yml"


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Program -> the series names it exports."""
    return exported_series(tmp_path_factory.mktemp("registries"))


@pytest.fixture(scope="session")
def all_exported(exported: dict[str, set[str]]) -> set[str]:
    return set().union(*exported.values())
