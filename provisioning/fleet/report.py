"""The rollout report, which is also its state: written (atomically) before the first stage and after every
stage, so an interrupted or stopped rollout can be resumed from it (``rollout.py --resume REPORT``).

    {"version": "0.2.0", "status": "running" | "stopped" | "finished", "inventory": "…",
     "options": {"canary": 5, "wave": 25, "fail_percent": 0, "parallel": null},
     "devices": [{"device": "edge-1", "relay": "relay-1", "stage": "canary", "result": "updated",
                  "version": "0.2.0", "detail": ""}, …]}

``result`` is one of fleet/wave.py's outcomes, or ``pending`` while its stage has not run yet.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Device:
    device: str
    relay: str
    stage: str
    result: str
    version: str
    detail: str = ""


@dataclass
class Report:
    version: str
    inventory: str
    status: str = "running"
    options: dict[str, float | None] = field(default_factory=dict)  # the stage settings, reused on resume
    devices: list[Device] = field(default_factory=list)

    def by_name(self) -> dict[str, Device]:
        return {d.device: d for d in self.devices}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def save(self, path: Path) -> None:
        """Write a temporary file beside ``path``, then rename it over ``path``: a reader (or a resume after a
        crash) sees the previous report or this one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(self.to_json() + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise


def load(path: Path) -> Report:
    data = json.loads(path.read_text())
    devices = [Device(**{**{"relay": "", "detail": ""}, **d}) for d in data.get("devices", [])]
    return Report(version=data["version"], inventory=data.get("inventory", ""), status=data.get("status", "stopped"),
                  options=data.get("options", {}), devices=devices)
