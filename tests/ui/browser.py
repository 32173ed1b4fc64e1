"""A browser tab for the UI tests (tests/ui, tests/e2e): its own context (viewport, time zone, locale as a
user in Berlin would have), uncaught page errors fail the test at ``close()``, named screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class BrowserTab:
    def __init__(self, browser: Any, base: str, artifacts: Path, name: str, timeout_ms: int, **options: Any) -> None:
        """``options``: more of Playwright's context options (a phone: ``viewport``, ``has_touch``,
        ``is_mobile``; the same session: ``storage_state``)."""
        self.context = browser.new_context(**{"base_url": base, "viewport": {"width": 1280, "height": 860},
                                              "timezone_id": "Europe/Berlin", "locale": "en-GB", **options})
        self.page = self.context.new_page()
        self.page.set_default_timeout(timeout_ms)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.artifacts, self.name = artifacts, name

    def sign_in(self, email: str, password: str, landing: str) -> None:
        """Sign in on the login page and wait for the page it lands on (its level-1 heading ``landing``)."""
        p = self.page
        p.goto("/login")
        p.get_by_label("E-mail").fill(email)
        p.get_by_label("Password").fill(password)
        p.get_by_role("button", name="Sign in").click()
        p.get_by_role("heading", name=landing, level=1).wait_for()

    def shot(self, what: str) -> None:
        self.page.screenshot(path=str(self.artifacts / f"{self.name}-{what}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"uncaught errors in the page: {self.errors}"
