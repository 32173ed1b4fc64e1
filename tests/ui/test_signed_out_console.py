"""A signed-out page load asks the cloud nothing it would refuse: no 401 in the network log or console.

The session probes (``GET /users/me``, then ``POST /auth/refresh``) used to log two red 401s on every
signed-out load; the readable ``guardian_session`` hint cookie (set with a session, cleared at logout or
when the refresh token is refused) tells the page whether to ask. Real headless Chromium, real cloud.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.api.main import create_app
from cloud.core.db import migrate
from guardian.contracts import auth
from tests.cloud.conftest import add_relay, make_settings
from tests.cloud.servers import serve
from tests.ui.browser import BrowserTab

pytestmark = pytest.mark.slow


@pytest.fixture
def base(tmp_path: Path, ui_dist: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(url)
    settings = make_settings(url, auth.generate_private_key(), auth={"cookie_secure": False},
                             http={"ui_dir": str(ui_dist), "cors_origins": []})
    app = create_app(settings)
    add_relay(app, "relay-a")
    with serve(app) as address:
        yield address


def test_signed_out_load_logs_no_401(base: str, browser: Any, artifacts: Path) -> None:
    tab = BrowserTab(browser, base, artifacts, "signed-out", 10_000)
    p = tab.page
    refused: list[str] = []
    console: list[str] = []
    p.on("response", lambda r: refused.append(f"{r.status} {r.request.method} {r.url}") if r.status >= 400 else None)
    p.on("console", lambda m: console.append(m.text) if m.type == "error" else None)

    p.goto("/")
    p.get_by_role("heading", name="Sign in").wait_for()
    p.goto("/events")  # a deep link, signed out
    p.get_by_role("heading", name="Sign in").wait_for()
    assert refused == [] and console == [], (refused, console)

    # Signed up: a reload keeps the session (the hint is there, the probe answers 200).
    p.goto("/signup")
    p.get_by_label("E-mail").fill(f"nina-{uuid.uuid4().hex[:6]}@example.org")
    p.get_by_label("Password").fill("correct horse battery staple")
    p.get_by_label("Name of your home").fill("Home")
    p.get_by_role("button", name="Create account").click()
    p.get_by_role("heading", name="Dashboard", level=1).wait_for()
    p.reload()
    p.get_by_role("heading", name="Dashboard", level=1).wait_for()
    # The checklist's own request is the page's last; the session must end after it, not under it.
    p.get_by_test_id("first-run-checklist").wait_for()

    # Signed out again (the session's cookies gone as after a logout elsewhere): quiet again.
    tab.context.clear_cookies()
    p.goto("/")
    p.get_by_role("heading", name="Sign in").wait_for()
    assert refused == [] and console == [], (refused, console)
    tab.close()
