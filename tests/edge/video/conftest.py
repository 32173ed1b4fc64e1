"""Fixtures for the video tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guardian.runtime.logging import configure_logging

from .helpers import JsonLogs


@pytest.fixture
def json_logs() -> Iterator[JsonLogs]:
    """Log output captured as the services print it (structlog JSON)."""
    logs = JsonLogs()
    configure_logging("INFO", stream=logs.stream)
    yield logs
    configure_logging("INFO")
