"""``guardian-edge <program> run`` for every long-running program; the previous release's verbs (``run``,
``run-detector``, ``run-uplink``) still work for one release, unlisted, and say what replaces them."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.edge.cli import build_parser
from demo import configs
from tests.conftest import free_port

VENV_BIN = Path(sys.executable).parent
ALIASES = {"run": "recorder run", "run-detector": "detector run", "run-uplink": "uplink run"}


@pytest.mark.parametrize(("old", "new"), ALIASES.items())
def test_old_verb_runs_the_same_program_as_the_new_one(old, new):
    parser = build_parser()
    current = parser.parse_args([*new.split(), "-c", "edge.toml"])
    alias = parser.parse_args([old, "-c", "edge.toml"])
    assert alias.handler is current.handler
    assert alias.replaced_by == new and not getattr(current, "replaced_by", None)


def test_help_lists_one_verb_per_program_and_not_the_old_ones():
    listed = build_parser().format_help()
    for program in ("recorder", "detector", "uplink", "archive"):
        assert f"\n    {program} " in listed
    for old in ALIASES:
        assert f"\n    {old} " not in listed


def test_help_loads_no_heavy_library():
    """A release's self-test runs `guardian-edge --help` with the core dependencies only (pydantic, protobuf, grpcio
    and a few more; no numpy, OpenVINO, PyAV, pycocotools or SQLAlchemy: provisioning/templates/
    guardian-edge-selftest.service.j2); building the parsers must not need the edge's. Checked in a fresh
    interpreter, with every action's parser built."""
    probe = ("import sys\nfrom agents.edge.cli import build_parser\nbuild_parser()\n"
             "print(sorted(m for m in ('numpy', 'openvino', 'av', 'pycocotools', 'sqlalchemy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_old_recorder_verb_still_starts_the_recorder_and_warns(tmp_path):
    config = configs.write_edge(tmp_path / "edge.toml", {
        "log_level": "info", "metrics": {"port": free_port()}, "storage": {"data_dir": tmp_path / "data"},
    })
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.Popen([str(VENV_BIN / "guardian-edge"), "run", "-c", str(config)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout = proc.stdout
    assert stdout is not None  # stdout=PIPE
    events: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if select.select([stdout], [], [], 1.0)[0]:
                line = stdout.readline()
                if line.startswith("{"):
                    events.append(json.loads(line))
                if events and events[-1].get("event") == "agent_ready":
                    break
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    names = [e.get("event") for e in events]
    assert "agent_ready" in names
    warning = next(e for e in events if e.get("event") == "deprecated command")
    assert warning["use"] == "guardian-edge recorder run"
