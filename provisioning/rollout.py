"""Staged edge rollout: a canary, then waves, each one parallel pyinfra run; a report per edge that is also
the rollout's state, so a stopped rollout can be resumed.

    python rollout.py INVENTORY --version V [--group edges|relays] [--canary 5] [--wave 25] [--fail-percent 0]
                      [--parallel N] [--report FILE | --resume FILE] [--dry] [-- PYINFRA ARGS]

``--group relays`` rolls an image version out to the relay VMs (deploy_image_update.py) the same way, each relay
counting as its own "relay" for the spread; edges (the default) take a release or, with host data
``guardian_install = "image"``, an image version (deploy_edge_update.py).

Stages (fleet/plan.py): the canary is ``--canary`` % of the edges (at least one) and tolerates no failure;
then waves of ``--wave`` % each, edges of all relays mixed; a wave stops the rollout when more than
``--fail-percent`` % of its edges end rolled-back, failed or unreachable (pyinfra's own threshold stops the
run inside the wave). Each edge's outcome (fleet/wave.py): updated | unchanged | rolled-back | unreachable |
failed | skipped | planned. The report (JSON, fleet/report.py) is printed and written to ``--report`` after
every stage; ``--resume FILE`` reads it back, leaves the edges already on V alone and carries on (and writes
to FILE unless ``--report`` says otherwise).

Exit status: 0 every edge updated or unchanged (--dry: or planned); 1 any other outcome; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fleet import wave
from fleet.inventory import GROUPS, edges_of
from fleet.plan import CANARY_PERCENT, WAVE_PERCENT, Stage, plan, too_many_failed
from fleet.report import Device, Report, load

DEFAULTS: dict[str, float | str | None] = {"group": "edges", "canary": CANARY_PERCENT, "wave": WAVE_PERCENT,
                                           "fail_percent": 0, "parallel": None}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inventory")
    parser.add_argument("--version", default=os.environ.get("GUARDIAN_VERSION"),
                        help="the release to roll out (default: $GUARDIAN_VERSION; on --resume: the report's)")
    parser.add_argument("--group", choices=GROUPS, help="the inventory group to update (edges)")
    parser.add_argument("--canary", type=float, metavar="PERCENT", help="canary share of the edges (5)")
    parser.add_argument("--wave", type=float, metavar="PERCENT", help="share of the edges per wave (25)")
    parser.add_argument("--fail-percent", type=int, metavar="PERCENT",
                        help="a wave with more rolled-back/failed/unreachable edges than this stops the rollout (0)")
    parser.add_argument("--parallel", type=int, metavar="N",
                        help="at most N edges at once within a wave (default: the whole wave)")
    parser.add_argument("--report", type=Path, help="write the report (the rollout's state) here")
    parser.add_argument("--resume", type=Path, metavar="REPORT", help="carry on the rollout this report describes")
    parser.add_argument("--dry", action="store_true", help="connect and plan each stage, change nothing")
    parser.add_argument("pyinfra_args", nargs="*", help="passed to pyinfra (after --)")
    args = parser.parse_args(argv)
    if args.resume and not args.resume.exists():
        parser.error(f"--resume: {args.resume} does not exist")
    if args.resume and args.version and args.version != load(args.resume).version:
        parser.error(f"--resume: {args.resume} rolls out {load(args.resume).version}, not {args.version}")
    if not args.version and not args.resume:
        parser.error("--version (or GUARDIAN_VERSION) is required")
    # Stage settings: given here, else the resumed rollout's, else the defaults.
    previous = load(args.resume).options if args.resume else {}
    for option, default in DEFAULTS.items():
        if getattr(args, option) is None:
            setattr(args, option, previous.get(option, default))
    if not (0 < args.canary <= 100 and 0 < args.wave <= 100 and 0 <= args.fail_percent <= 100):
        parser.error("--canary and --wave take a percentage in (0, 100], --fail-percent one in [0, 100]")
    return args


def start(args: argparse.Namespace, inventory: str) -> tuple[Report, list[Stage]]:
    """The report to fill in and the stages still to run (a new rollout, or what a resumed one has left)."""
    edges = edges_of(inventory, args.group)
    previous = load(args.resume) if args.resume else None
    version = previous.version if previous else args.version
    done = {d.device: d for d in previous.devices if d.result in wave.OK} if previous else {}
    gone = sorted(set(previous.by_name()) - {e.name for e in edges}) if previous else []
    if gone:
        print(f"not in the inventory any more, left out of the report: {', '.join(gone)}", file=sys.stderr)
    canary_passed = any(d.result == "updated" for d in done.values())
    stages = plan([e for e in edges if e.name not in done], fleet_size=len(edges), canary_percent=args.canary,
                  wave_percent=args.wave, fail_percent=args.fail_percent, canary_needed=not canary_passed)
    stage_of = {edge.name: stage.name for stage in stages for edge in stage.edges}
    report = Report(version=version, inventory=args.inventory, options={o: getattr(args, o) for o in DEFAULTS})
    for edge in edges:
        report.devices.append(done.get(edge.name) or Device(edge.name, edge.relay, stage_of[edge.name], "pending", version))
    return report, stages


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    inventory = str(Path(args.inventory).resolve())
    report_path = args.report or args.resume
    report, stages = start(args, inventory)
    devices = report.by_name()

    def save() -> None:
        if report_path:
            report.save(report_path)

    save()
    stopped = False
    for stage in stages:
        if stopped:
            for edge in stage.edges:
                devices[edge.name].result = "skipped"
            continue
        print(f"== {stage.name}: {len(stage.edges)} edges ({', '.join(e.name for e in stage.edges[:8])}"
              f"{', …' if len(stage.edges) > 8 else ''})", file=sys.stderr)
        outcomes = wave.run(inventory, stage, report.version, parallel=args.parallel, dry=args.dry,
                            extra=args.pyinfra_args, group=args.group)
        for name, outcome in outcomes.items():
            devices[name].result, devices[name].detail = outcome.result, outcome.detail
        bad = sum(o.result in wave.BAD for o in outcomes.values())
        # --dry changes nothing, so there is nothing to protect: every stage's plan is shown.
        stopped = not args.dry and (too_many_failed(bad, len(stage.edges), stage.fail_percent)
                                    or any(o.result == "skipped" for o in outcomes.values()))
        summary = {r: sum(o.result == r for o in outcomes.values()) for r in sorted({o.result for o in outcomes.values()})}
        print(f"   {stage.name}: {summary}{'; rollout stopped' if stopped else ''}", file=sys.stderr)
        save()
    ok = wave.OK + (("planned",) if args.dry else ())
    report.status = "stopped" if stopped else "finished"
    save()
    print(report.to_json())
    return 0 if all(d.result in ok for d in report.devices) else 1


if __name__ == "__main__":
    sys.exit(main())
