from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from demo import configs

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def edge_cli() -> list[str]:
    """The real installed console script, as an operator or systemd would run it."""
    return [str(VENV_BIN / "guardian-edge")]


@pytest.fixture
def clean_env() -> dict[str, str]:
    """The environment without any GUARDIAN_/systemd variables leaking in from the caller."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GUARDIAN_", "NOTIFY_SOCKET", "WATCHDOG_", "CREDENTIALS_DIRECTORY"))
    }


@pytest.fixture
def minimal_edge_config(tmp_path: Path) -> Path:
    return configs.write_edge(tmp_path / "edge.toml", {
        "log_level": "info", "metrics": {"port": free_port()}, "storage": {"data_dir": tmp_path / "data"},
    })
