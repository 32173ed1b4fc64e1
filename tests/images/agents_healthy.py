"""The image's boot assessment script (mkosi.extra/usr/libexec/guardian-agents-healthy) run on the host, with
``systemctl`` answered from files: the unit states are the only thing it asks PID 1 for, and no booted image
can put a unit in each state on demand. The heartbeat stamps it waits for are real files."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.images.bootcheck import ROOT

SCRIPT = ROOT / "mkosi.extra" / "usr" / "libexec" / "guardian-agents-healthy"

_SYSTEMCTL = """#!/bin/sh
# systemctl show -P PROPERTY UNIT, answered from $FAKE_UNITS/UNIT.PROPERTY; anything else is logged.
if [ "$1" = show ] && [ "$2" = -P ]; then
    cat "$FAKE_UNITS/$4.$3" 2>/dev/null
    exit 0
fi
echo "$*" >>"$FAKE_UNITS/other-calls"
"""


@dataclass
class FakeUnits:
    dir: Path

    @classmethod
    def new(cls, directory: Path) -> FakeUnits:
        directory.mkdir(parents=True)
        stub = directory / "systemctl"
        stub.write_text(_SYSTEMCTL)
        stub.chmod(0o755)
        return cls(directory)

    def set(self, unit: str, active_state: str, condition: str = "yes") -> None:
        (self.dir / f"{unit}.ActiveState").write_text(active_state + "\n")
        (self.dir / f"{unit}.ConditionResult").write_text(condition + "\n")

    def assess(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PATH": f"{self.dir}:{os.environ['PATH']}", "FAKE_UNITS": str(self.dir)}
        return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout)
