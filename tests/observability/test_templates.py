"""The operator's Prometheus and Alertmanager configs, rendered from provisioning/templates as a deploy
renders them, pass promtool's and amtool's checks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest

from tests.observability.conftest import ROOT

TEMPLATES = ROOT / "provisioning" / "templates"


def render(name: str, **values: object) -> str:
    return jinja2.Template((TEMPLATES / name).read_text(), undefined=jinja2.StrictUndefined).render(**values)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="Debian prometheus not installed (scripts/setup.sh)")
def test_prometheus_config_loads_the_rules_and_alertmanager(tmp_path: Path) -> None:
    host = SimpleNamespace(data=SimpleNamespace(cloud_prometheus_interval="30s", cloud_http_port=8000,
                                                cloud_relay_api_port=8001))
    config = tmp_path / "prometheus.yml"
    config.write_text(render("prometheus.yml.j2", host=host, relays=["relay-1.example.org:9464"]))
    result = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/etc/prometheus/rules/*.yml" in config.read_text() and "127.0.0.1:9093" in config.read_text()


@pytest.mark.skipif(shutil.which("amtool") is None, reason="Debian prometheus-alertmanager not installed")
def test_alertmanager_config_checks(tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(render("alertmanager.yml.j2", webhook_url="https://hooks.example.org/guardian"))
    result = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Found:\n - global config\n - route\n - 2 inhibit rules\n - 1 receivers" in result.stdout
