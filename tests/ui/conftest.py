"""Fixtures for the web UI: the built UI (ui/dist), the npm tool chain, headless Chromium (FACTS.md)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "ui"
DIST = UI / "dist"
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="session")
def npm() -> str:
    path = shutil.which("npm")
    if path is None or not (UI / "node_modules").is_dir():
        pytest.fail("npm or ui/node_modules missing; run scripts/setup.sh (scripts/setup.d/80-ui.sh)")
    return path


@pytest.fixture(scope="session")
def ui_dist() -> Path:
    if not (DIST / "index.html").is_file():
        pytest.fail("ui/dist is not built; run scripts/setup.sh (scripts/setup.d/80-ui.sh builds it)")
    return DIST


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# Per module, not per session: while Playwright's sync API is open its event loop counts as running in
# the main thread, so a later test's asyncio.run() (tests/archive) would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("chromium is not installed; run scripts/setup.sh (scripts/setup.d/80-ui.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
