"""One stage of the rollout: ONE pyinfra run of deploy_edge_update.py (edges) or deploy_image_update.py (relays)
over all the stage's devices in parallel, with pyinfra's own failure threshold (``--fail-percent``), and each
one's outcome, read from what pyinfra recorded (fleet/events.py) and the lines it printed about that host:

    updated      the switch to V ran and passed (health, then heartbeats through the relay; an image: V booted
                 and marked good)
    unchanged    already on V: nothing to switch
    rolled-back  a check failed after the switch and the previous release is active again (an image: systemd-boot
                 went back to the previous version by itself)
    unreachable  pyinfra could not connect (never "unchanged")
    failed       anything else that went wrong (the upload, a revert that did not work, …)
    skipped      not reached: pyinfra stopped the run (threshold) before this edge's switch
    planned      --dry: reachable, plan read
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fleet.plan import Stage

PROVISIONING = Path(__file__).resolve().parent.parent
PYINFRA = Path(sys.executable).parent / "pyinfra"
EVENTS = PROVISIONING / "fleet" / "events.py"
# What a stage runs, by the inventory group it updates: edges take a release or an image (per host,
# deploy_edge_update.py), relays only images (Debian relay hosts are updated by deploy_relay.py).
DEPLOYS = {"edges": "deploy_edge_update.py", "relays": "deploy_image_update.py"}

OK = ("updated", "unchanged")
BAD = ("rolled-back", "unreachable", "failed")  # what counts against the threshold
# The operations that switch an edge to the new release or check it afterwards end with this (see
# tasks/edge_update.py, tasks/image_update.py); their failure message says whether the previous release was
# brought back.
SWITCH_SUFFIX = "(else rolled back)"
ROLLED_BACK = ("rolled back to ", "); reverted")  # guardian-activate; the heartbeat check
NOT_ROLLED_BACK = ("still unhealthy", "revert FAILED")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# pyinfra's line for an exception in a python.call callback: the exception's repr.
_CALLBACK_ERROR = re.compile(r"Unexpected error in Python callback: \w+\((.*?),?\)")
_STATUS = re.compile(r"(Success|No changes|Skipped)( on retry \d+)?")  # pyinfra's per-operation lines, no news


@dataclass(frozen=True)
class Outcome:
    result: str
    detail: str = ""


def pyinfra_command(inventory: str, stage: Stage, version: str, *, parallel: int | None, dry: bool,
                    extra: list[str], group: str = "edges") -> list[str]:
    hosts = [edge.name for edge in stage.edges]
    cmd = [str(PYINFRA), "--json", "-y", "--config", str(EVENTS), "--fail-percent", str(stage.fail_percent),
           "--parallel", str(min(parallel or len(hosts), len(hosts))), inventory, DEPLOYS[group],
           "--data", f"guardian_version={version}"]
    for host in hosts:
        cmd += ["--limit", host]
    return [*cmd, *(["--dry"] if dry else []), *extra]


def run(inventory: str, stage: Stage, version: str, *, parallel: int | None = None, dry: bool = False,
        extra: list[str] | None = None, group: str = "edges") -> dict[str, Outcome]:
    """Run the stage; its outcome per edge name."""
    with tempfile.TemporaryDirectory(prefix="guardian-rollout-") as tmp:
        events_path = Path(tmp) / "events.jsonl"
        proc = subprocess.run(pyinfra_command(inventory, stage, version, parallel=parallel, dry=dry, extra=extra or [],
                                                  group=group),
                              cwd=PROVISIONING, env={**os.environ, "GUARDIAN_ROLLOUT_EVENTS": str(events_path)},
                              capture_output=True, text=True)
        events = [json.loads(line) for line in events_path.read_text().splitlines()] if events_path.exists() else []
    stderr = _ANSI.sub("", proc.stderr)
    outcomes = {edge.name: outcome(edge.name, events, stderr, dry) for edge in stage.edges}
    if not events:  # pyinfra stopped before connecting (a broken inventory or deploy): say why
        tail = stderr.strip()[-600:] or f"pyinfra exited with {proc.returncode}"
        outcomes = {name: Outcome("failed", tail) for name in outcomes}
    return outcomes


def host_lines(stderr: str, host: str, last: int = 6) -> str:
    """pyinfra's output lines about ``host`` (they start ``[host]``), the last few joined; an exception raised in
    an operation's callback (a DeployError from a task) as its message alone."""
    prefix = f"[{host}]"
    lines = [line.strip()[len(prefix):].strip() for line in stderr.splitlines() if line.strip().startswith(prefix)]
    return "; ".join([_callback_error(line) for line in lines if line and not _STATUS.fullmatch(line)][-last:])


def _callback_error(line: str) -> str:
    """``Unexpected error in Python callback: DeployError('m',)`` -> ``m``; any other line as it is."""
    match = _CALLBACK_ERROR.fullmatch(line)
    if not match:
        return line
    try:
        message = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
        return line
    return message if isinstance(message, str) else line


def outcome(host: str, events: list[dict], stderr: str, dry: bool) -> Outcome:
    mine = [e for e in events if e.get("host") == host]
    unreachable = [e for e in mine if e["event"] == "unreachable"]
    if unreachable:
        return Outcome("unreachable", unreachable[0].get("detail", ""))
    if not any(e["event"] == "connected" for e in mine):
        return Outcome("skipped", "pyinfra stopped before connecting to it")
    if dry:
        return Outcome("planned")
    planned = next((e["ops"] for e in mine if e["event"] == "planned"), None)
    if planned is None:
        return Outcome("skipped", "pyinfra stopped (failure threshold) before running anything")
    ran = {e["op"]: e["ok"] for e in mine if e["event"] == "op"}
    switch_ops = [op for op in planned if op.endswith(SWITCH_SUFFIX)]
    failed = [op for op in planned if ran.get(op) is False]
    detail = host_lines(stderr, host)
    if failed:
        rolled_back = (failed[0] in switch_ops and any(m in detail for m in ROLLED_BACK)
                       and not any(m in detail for m in NOT_ROLLED_BACK))
        return Outcome("rolled-back" if rolled_back else "failed", f"{failed[0]}: {detail}")
    if not switch_ops:
        return Outcome("unchanged")
    if switch_ops[0] not in ran:
        return Outcome("skipped", "pyinfra stopped (failure threshold) before its switch")
    unchecked = [op for op in switch_ops if op not in ran]
    if unchecked:  # switched and healthy on the edge; the run stopped before the checks after it
        return Outcome("updated", f"not checked, the wave stopped first: {'; '.join(unchecked)}")
    return Outcome("updated", detail)  # what the host's operations logged (an image update: its timings)
