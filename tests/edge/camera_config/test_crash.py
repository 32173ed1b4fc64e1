"""kill -9 in the middle of an apply leaves the previous version applied, never a mix: a real process is
stopped inside the apply's transaction, right after a chosen statement, and killed there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agents.edge.camera_config import store
from agents.edge.camera_config.cameras import runnable_cameras
from agents.edge.camera_config.key import ConfigKey, config_key_path
from agents.edge.camera_config.store import Outcome
from agents.edge.db import open_database
from agents.edge.video.cameras import list_cameras
from tests.conftest import ROOT

from .helpers import DEVICE, camera, desired

# Applies the config in the file argv[2]; right after the first statement starting with argv[3] it says so
# on stdout and stops there (inside the transaction) until it is killed.
APPLY_AND_STOP = """
import sys, threading
from pathlib import Path
from sqlalchemy import Engine, event
from agents.edge.camera_config import store
from agents.edge.camera_config.key import ConfigKey
from agents.edge.db import open_database
from guardian.contracts.edge.v1 import config_pb2

data, config, prefix = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

@event.listens_for(Engine, "after_cursor_execute")
def stop_here(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith(prefix):
        print("stopped", flush=True)
        threading.Event().wait()

_engine, sessions = open_database(data / "edge.db")
store.apply(sessions, config_pb2.DesiredConfig.FromString(config.read_bytes()),
            ConfigKey.load(data / "config-key"), sys.argv[4])
print("finished", flush=True)
"""


@pytest.mark.parametrize("statement", ["UPDATE CAMERAS", "INSERT INTO CAMERAS", "INSERT INTO CONFIG_VERSIONS"])
def test_kill_9_mid_apply_leaves_the_old_version(tmp_path: Path, statement: str) -> None:
    data = tmp_path / "data"
    key = ConfigKey.load_or_create(config_key_path(data))
    _engine, sessions = open_database(data / "edge.db")
    v1 = desired(1, camera("front", "rtsp://10.0.0.5/main"), camera("yard", "rtsp://10.0.0.6/main"))
    assert store.apply(sessions, v1, key, DEVICE).outcome is Outcome.APPLIED
    before = [(c.name, c.record_url, c.enabled, c.config_state) for c in list_cameras(sessions)]

    v2 = desired(2, camera("front", "rtsp://10.0.0.5/other"), camera("back", "rtsp://10.0.0.7/main"))
    config = tmp_path / "v2.pb"
    config.write_bytes(v2.SerializeToString())
    child = subprocess.Popen([sys.executable, "-c", APPLY_AND_STOP, str(data), str(config), statement, DEVICE],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "stopped"  # inside the transaction, part of v2 written
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    _engine, sessions = open_database(data / "edge.db")
    assert store.current_version(sessions) == 1
    assert [(c.name, c.record_url, c.enabled, c.config_state) for c in list_cameras(sessions)] == before
    # The lock died with the process: the next apply goes through whole.
    assert store.apply(sessions, v2, key, DEVICE).outcome is Outcome.APPLIED
    assert [(c.name, c.record_url) for c in runnable_cameras(sessions)] == [
        ("back", "rtsp://10.0.0.7/main"), ("front", "rtsp://10.0.0.5/other")]
