"""The real demo stack (demo.stack: fake camera → edge recorder/detector/uplink → relay in tls mode →
cloud + UI, every one its own process) in a temporary state directory on free ports, and headless
Chromium (FACTS.md) that trusts the relay's demo certificate by its key."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo import pki
from demo.stack import DemoStack, Options, Ports
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT

ARTIFACTS = ROOT / "test-artifacts" / "e2e"


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory, footage_mp4: Path) -> Iterator[DemoStack]:
    if not (ROOT / "ui" / "dist" / "index.html").is_file():
        pytest.fail("ui/dist is not built; run scripts/setup.sh (scripts/setup.d/80-ui.sh builds it)")
    state = tmp_path_factory.mktemp("demo")
    stack = DemoStack(Options(state_dir=state, ports=Ports.free(), footage=footage_mp4, echo=False))
    stack.up()
    pids = [c.proc.pid for c in stack.sup.children]  # type: ignore[union-attr]
    yield stack
    pids += [c.proc.pid for c in stack.sup.children]  # type: ignore[union-attr]
    codes = stack.down()
    # Stopped cleanly (SIGTERM honoured: every program exits 0, the cloud too), and nothing left behind.
    assert all(code == 0 for code in codes.values()), codes
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert not alive, f"processes left running: {alive}"
    # The detector stopped before the uplink, which sent what it left in the outbox (its last "ended"
    # updates) before exiting: nothing waits on the edge for the next start.
    assert _queued_events(stack.edge_db) == 0


def _queued_events(database: Path) -> int:
    from agents.edge import outbox
    from agents.edge.db import open_database
    from agents.edge.outbox import OutboxKind

    engine, sessions = open_database(database)
    try:
        with sessions() as session:
            return outbox.length(session, OutboxKind.EVENT)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser(demo_stack: DemoStack) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("chromium is not installed; run scripts/setup.sh (scripts/setup.d/80-ui.sh)")
    from playwright.sync_api import sync_playwright

    # Trust exactly the relay's demo certificate (by its public key), as a user who imported the demo CA
    # would; every other certificate error still fails.
    spki = pki.spki_sha256(demo_stack.relay_cert)
    args = [*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={spki}",
            "--autoplay-policy=no-user-gesture-required"]
    os.environ.setdefault("PW_TEST_SCREENSHOT_NO_FONTS_READY", "1")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield browser
        finally:
            browser.close()
