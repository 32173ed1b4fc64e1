"""``[storage] database`` moves every edge service to that file; the old ``[uplink] database`` key still
works for one release (with a warning); both keys naming different files is a config error."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from agents.edge.config import EdgeSettings
from agents.edge.db import database_path
from guardian.runtime.errors import EX_CONFIG
from guardian.runtime.service import Agent, ServiceContext, serve
from tests.conftest import ROOT, free_port


class StopWhenStarted:
    """Runs an edge service's real start-up under the real runner, then stops it at once."""

    def __init__(self, agent: Agent) -> None:
        self.agent, self.name = agent, agent.name

    async def start(self, ctx: ServiceContext) -> None:
        await self.agent.start(ctx)
        ctx.stopping.set()

    async def close(self) -> None:
        await self.agent.close()


def settings_with_database(tmp_path: Path) -> EdgeSettings:
    """The database outside the data directory, in tls uplink mode (no WireGuard needed here)."""
    return EdgeSettings(
        storage={"data_dir": tmp_path / "data", "database": tmp_path / "elsewhere" / "guardian.db"},
        metrics={"enabled": False},
        uplink={"mode": "tls", "relay_ca_file": tmp_path / "pki" / "ca.pem"},
        archive={"enabled": True, "relay_target": f"127.0.0.1:{free_port()}"},
    )


def enrolled(settings: EdgeSettings, tmp_path: Path) -> None:
    """An enrolment record and TLS credentials, as `guardian-edge enrol` leaves them in tls mode."""
    from agents.edge.enrolment import Enrolment, enrolment_path
    from agents.edge.uplink.enrol import client_ca_path, tls_cert_path, tls_key_path
    from tests.relay.pki import make_ca, make_server_cert

    (tmp_path / "pki").mkdir()
    ca_cert, ca_key = make_ca(tmp_path / "pki")
    cert, key = make_server_cert(tmp_path / "pki", ca_cert, ca_key, "edge", ["127.0.0.1"])
    Enrolment(
        device_id="dev-1", tenant_id="tenant-a", relay_url="127.0.0.1:1", tunnel_address="127.0.0.1",
        tunnel_prefix=32, relay_public_key="", relay_endpoint="127.0.0.1:1", relay_tunnel_address="127.0.0.1",
        uplink_port=free_port(), media_port=free_port(), keepalive_s=25,
    ).save(enrolment_path(settings))
    tls_key_path(settings).write_bytes(key.read_bytes())
    tls_cert_path(settings).write_bytes(cert.read_bytes())
    client_ca_path(settings).write_bytes(ca_cert.read_bytes())


def recorder(settings: EdgeSettings) -> Agent:
    from agents.edge.video.service import RecorderAgent

    return RecorderAgent(settings)


def detector(settings: EdgeSettings) -> Agent:
    from agents.edge.detection.service import DetectorAgent

    return DetectorAgent(settings)


def uplink(settings: EdgeSettings) -> Agent:
    from agents.edge.uplink.service import UplinkAgent

    return UplinkAgent(settings)


def archive(settings: EdgeSettings) -> Agent:
    from agents.edge.archive.service import ArchiveAgent

    return ArchiveAgent(settings)


@pytest.mark.parametrize("service", [recorder, detector, uplink, archive])
def test_every_edge_service_opens_the_configured_database(tmp_path: Path, service: Callable[[EdgeSettings], Agent]) -> None:
    settings = settings_with_database(tmp_path)
    enrolled(settings, tmp_path)
    configured = tmp_path / "elsewhere" / "guardian.db"
    assert database_path(settings) == configured

    assert asyncio.run(serve(StopWhenStarted(service(settings)))) == 0

    with closing(sqlite3.connect(configured)) as db:
        assert db.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    assert [p for p in tmp_path.rglob("*.db") if p != configured] == []  # no second database anywhere


def guardian_edge(config: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agents.edge.cli", *command, "--config", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def test_the_old_uplink_key_still_works_and_warns(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n\n[uplink]\ndatabase = "{tmp_path / "old.db"}"\n')
    from guardian.runtime.config import load_settings

    settings = load_settings(EdgeSettings, config)
    assert database_path(settings) == tmp_path / "old.db"

    checked = guardian_edge(config, "check-config")
    assert checked.returncode == 0, checked.stderr
    warning = [line for line in checked.stdout.splitlines() if "warning" in line]
    assert len(warning) == 1 and "uplink.database is deprecated" in warning[0] and "storage.database" in warning[0]

    # A service warns when it starts (here the uplink, which then stops: not enrolled).
    started = guardian_edge(config, "uplink", "run")
    logged = [json.loads(line) for line in started.stdout.splitlines() if line.startswith("{")]
    assert [e for e in logged if e.get("event") == "deprecated config key" and "uplink.database" in e.get("detail", "")]


def test_the_same_file_under_both_keys_is_accepted(tmp_path: Path) -> None:
    same = tmp_path / "edge.db"
    settings = EdgeSettings(storage={"database": same}, uplink={"database": same})
    assert database_path(settings) == same


def test_both_keys_naming_different_files_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(f'[storage]\ndatabase = "{tmp_path / "a.db"}"\n\n[uplink]\ndatabase = "{tmp_path / "b.db"}"\n')
    checked = guardian_edge(config, "check-config")
    assert checked.returncode == EX_CONFIG
    problem = [line for line in checked.stderr.splitlines() if "storage.database" in line]
    assert len(problem) == 1 and "uplink.database" in problem[0], checked.stderr
