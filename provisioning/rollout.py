"""Staged edge rollout: one canary, then batches; stops at the first stage with a failed edge.

    python rollout.py INVENTORY --version V [--batch-size N] [--report FILE] [--dry] [-- PYINFRA ARGS]

Each stage is one ``pyinfra INVENTORY deploy_edge_update.py --limit …`` run. An edge whose health
check fails was rolled back by guardian-activate (previous release kept side by side); the rollout then
stops and the remaining edges are not touched. Prints (and with --report writes) a JSON report, one
entry per device: updated | unchanged | rolled-back | skipped | planned. Exit 0 only if all edges are on V.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYINFRA = Path(sys.executable).parent / "pyinfra"


def edges_of(inventory: str) -> list[str]:
    hosts = runpy.run_path(inventory).get("edges", [])
    return [h[0] if isinstance(h, (tuple, list)) else h for h in hosts]


def stages(edges: list[str], batch_size: int) -> list[list[str]]:
    return [edges[:1]] + [edges[i:i + batch_size] for i in range(1, len(edges), batch_size)] if edges else []


def run_stage(inventory: str, hosts: list[str], version: str, dry: bool, extra: list[str]) -> dict:
    cmd = [str(PYINFRA), "--json", "-y", inventory, "deploy_edge_update.py", "--data", f"guardian_version={version}"]
    for h in hosts:
        cmd += ["--limit", h]
    if dry:
        cmd.append("--dry")
    proc = subprocess.run([*cmd, *extra], cwd=HERE, capture_output=True, text=True)
    start = proc.stdout.find("{")
    payload = json.loads(proc.stdout[start:]) if start >= 0 else {}
    return {"returncode": proc.returncode, "payload": payload, "stderr": proc.stderr}


def outcome(stage: dict, host: str, dry: bool) -> tuple[str, str]:
    if dry:
        return "planned", ""
    ops = (stage["payload"].get("results") or {}).get("operations", [])
    if any(host in op["error"] for op in ops) or (not ops and stage["returncode"]):
        lines = [line.strip() for line in stage["stderr"].splitlines() if host in line and line.strip()]
        return "rolled-back", "; ".join(lines[-4:]) or stage["stderr"][-600:]
    activated = any(host in op["success"] and "active and healthy" in op["name"] for op in ops)
    return ("updated" if activated else "unchanged"), ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inventory")
    parser.add_argument("--version", default=os.environ.get("GUARDIAN_VERSION"), required="GUARDIAN_VERSION" not in os.environ)
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--report", type=Path)
    parser.add_argument("--dry", action="store_true", help="show each stage's plan, change nothing")
    parser.add_argument("pyinfra_args", nargs="*", help="passed to pyinfra (after --)")
    args = parser.parse_args()
    inventory = str(Path(args.inventory).resolve())
    report: list[dict] = []
    stopped = False
    for number, hosts in enumerate(stages(edges_of(inventory), args.batch_size)):
        name = "canary" if number == 0 else f"batch {number}"
        if stopped:
            report += [{"device": h, "stage": name, "result": "skipped", "version": None} for h in hosts]
            continue
        stage = run_stage(inventory, hosts, args.version, args.dry, args.pyinfra_args)
        for h in hosts:
            result, detail = outcome(stage, h, args.dry)
            report.append({"device": h, "stage": name, "result": result, "version": args.version, "detail": detail})
            stopped = stopped or result == "rolled-back"
        if args.dry:
            plan = stage["payload"].get("plan") or stage["stderr"][-2000:]
            print(f"== {name}: {', '.join(hosts)}\n{json.dumps(plan, indent=1)[:4000]}", file=sys.stderr)
    text = json.dumps({"version": args.version, "devices": report}, indent=2)
    print(text)
    if args.report:
        args.report.write_text(text)
    return 0 if all(d["result"] in ("updated", "unchanged", "planned") for d in report) else 1


if __name__ == "__main__":
    sys.exit(main())
