"""Lint, types and import rules, run from the venv as CI runs them (configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> None:
    """Run a tool of the venv at the repository root; fail with its output."""
    result = subprocess.run([str(BIN / tool), *args], cwd=ROOT, capture_output=True, text=True, timeout=900,
                            check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join([tool, *args])} failed:\n{result.stdout[-20000:]}\n{result.stderr[-5000:]}", pytrace=False)


def test_ruff() -> None:
    run("ruff", "check", "--no-fix", "--output-format=concise", ".")


@pytest.mark.slow
def test_mypy() -> None:
    # The files and the strictness per package come from [tool.mypy]; the cache is .mypy_cache (ignored).
    run("mypy")


def test_import_rules() -> None:
    # The contracts are [tool.importlinter] in pyproject.toml; the graph is rebuilt every run.
    run("lint-imports", "--no-cache", "--no-logo")
