"""Running the real edge services (``guardian-edge recorder run`` / ``detector run``) as processes, as systemd does,
and reading what they leave behind (the edge SQLite, their /metrics)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from demo import configs
from tests.conftest import FakeCamera, free_port

VENV_BIN = Path(sys.executable).parent
T = TypeVar("T")


def write_edge_config(tmp_path: Path, camera_url: str, store_dir: Path, segment_seconds: float = 4.0) -> Path:
    """One edge.toml both services read: data dir in ``tmp_path``, one camera, the test model store."""
    return configs.write_edge(tmp_path / "edge.toml", {
        "log_level": "info",
        "storage": {"data_dir": tmp_path / "data"},
        "cameras": [{"name": "campus", "record_url": camera_url}],
        "recording": {"segment_seconds": segment_seconds, "open_timeout_s": 8, "stall_timeout_s": 4,
                      "backoff_initial_s": 0.3, "backoff_max_s": 2, "fsync": False},
        "retention": {"min_free_bytes": 0, "min_free_percent": 0},
        "models": {"store_dir": store_dir, "reload_interval_s": 1},
        # The parked van scores ~0.39 as truck and the car ~0.38 (FACTS.md): 0.3 sees them.
        "detection": {"fps": 5, "thresholds": {"car": 0.3, "truck": 0.3, "bus": 0.35},
                      "events": {"pre_roll_s": 3, "post_roll_s": 3}},
    })


class EdgeProcess:
    """One edge service as a child process with its own metrics port; output goes to a log file."""

    def __init__(self, program: str, config: Path, log_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.program = program  # "recorder" or "detector": runs `guardian-edge <program> run`
        self.config = config
        self.metrics_port = free_port()
        self.log_path = log_dir / f"{program}-{self.metrics_port}.log"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> EdgeProcess:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GUARDIAN_EDGE_", "NOTIFY_SOCKET", "WATCHDOG_"))}
        env["GUARDIAN_EDGE_METRICS__PORT"] = str(self.metrics_port)
        env.update(self.extra_env)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(VENV_BIN / "guardian-edge"), self.program, "run", "-c", str(self.config)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        return self

    @property
    def pid(self) -> int:
        return self.started.pid

    @property
    def started(self) -> subprocess.Popen[bytes]:
        """The child process, once :meth:`start` ran."""
        assert self.proc is not None, f"{self.program} was not started"
        return self.proc

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when none, or not up yet)."""
        try:
            text = self.metrics()
        except httpx.HTTPError:
            return 0.0
        return sum_samples(text, name, **labels)

    def kill(self) -> None:
        """SIGKILL: a crash, nothing cleaned up."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait, as systemd stops a unit; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"{self.program} ignored SIGTERM for {timeout} s:\n{self.log()[-3000:]}") from None
        return self.proc.returncode


def sum_samples(text: str, name: str, **labels: str) -> float:
    total = 0.0
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$")
    for line in text.splitlines():
        m = pattern.match(line)
        if not m:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.5,
             procs: tuple[EdgeProcess | FakeCamera, ...] = ()) -> T:
    """Poll ``predicate`` until truthy; fails after ``timeout`` or as soon as one of ``procs`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for p in procs:
            if isinstance(p, FakeCamera):
                if p.proc is None or p.proc.poll() is not None:
                    err = p.proc.stderr.read()[-2000:] if p.proc is not None and p.proc.stderr is not None else ""
                    raise AssertionError(f"the fake camera died while waiting for {what}: {err}")
                continue
            if not p.alive():
                raise AssertionError(f"{p.program} exited ({p.started.returncode}) while waiting for {what}:\n"
                                     f"{p.log()[-3000:]}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
