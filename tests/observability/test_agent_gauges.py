"""The two gauges added for the alert rules report what they should: the relay's served certificate expiry
(a real relay process, scraped) and the edge's rolled-back release (the real guardian-activate script
rolling an update back, then the uplink agent's registry)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import jinja2
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

from agents.edge.config import EdgeSettings
from agents.edge.uplink.service import UplinkAgent
from tests.observability.conftest import ROOT
from tests.relay.tlsstack import TlsStack, free_port, wait_for


def scrape(url: str) -> dict[str, float]:
    try:
        text = httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return {}
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def test_relay_exports_its_served_certificates_expiry(tmp_path: Path) -> None:
    port = free_port()
    stack = TlsStack(tmp_path, relay_overrides={"metrics": {"enabled": True, "address": "127.0.0.1", "port": port}})
    try:
        stack.start_relay()
        name = "guardian_relay_tls_certificate_expiry_timestamp_seconds"
        samples = wait_for(lambda: scrape(f"http://127.0.0.1:{port}/metrics").get(name), 30, "the relay's metrics")
    finally:
        stack.close()
    served = x509.load_pem_x509_certificate(Path(stack.relay_cert).read_bytes())
    assert samples == served.not_valid_after_utc.timestamp()


FAKE_SYSTEMCTL = """#!/bin/sh
# systemd for guardian-activate, here: nothing failed, units of the release "bad" fail to start.
case "$1" in
  is-system-running) echo running ;;
  is-active) if [ "$(readlink "$GUARDIAN_BASE/current")" = releases/bad ]; then echo failed; else echo active; fi ;;
esac
exit 0
"""


def rolled_back_gauge(tmp_path: Path, base: Path) -> float | None:
    agent = UplinkAgent(EdgeSettings(storage={"data_dir": tmp_path / "edge"}), release_base=base)
    return agent.metrics.registry.get_sample_value("guardian_edge_release_rolled_back")


def test_a_rolled_back_update_is_exported_by_the_edge(tmp_path: Path) -> None:
    base, bin_dir = tmp_path / "opt-guardian", tmp_path / "bin"
    for version in ("1.0", "2.0", "bad"):
        (base / "releases" / version).mkdir(parents=True)
        (base / "releases" / version / ".guardian-release").write_text(version)
    (base / "current").symlink_to("releases/1.0")
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    script = tmp_path / "guardian-activate"
    script.write_text(jinja2.Template((ROOT / "provisioning" / "templates" / "guardian-activate.sh.j2").read_text())
                      .render(base=base, units=["guardian-edge-uplink.service"], timeout=10, settle=0))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GUARDIAN_BASE": str(base)}

    def activate(version: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(script), version], env=env, capture_output=True, text=True, timeout=60)

    assert rolled_back_gauge(tmp_path, tmp_path / "no-releases-here") == 0  # an image or a checkout
    assert activate("2.0").returncode == 0
    assert rolled_back_gauge(tmp_path, base) == 0  # a good update
    failed = activate("bad")
    assert failed.returncode == 1 and "rolled back to 2.0" in failed.stderr, failed.stderr
    assert os.readlink(base / "current") == "releases/2.0"
    assert rolled_back_gauge(tmp_path, base) == 1
    assert activate("bad").returncode == 1  # still bad: still rolled back
    assert rolled_back_gauge(tmp_path, base) == 1
