"""``python -m demo`` (what ``scripts/demo.sh`` runs after set-up): start the local demo stack, print the
URL and the demo login, stream the programs' logs, stop everything on Ctrl-C / SIGTERM.

A program that dies while the stack runs is restarted as systemd restarts it on the appliance (its unit's
Restart=on-failure, RestartSec= and start limit); the rest keeps running. Past the start limit, or for an
exit that a restart cannot fix (78, a config error), the demo gives up on that program and says so loudly.

Exit codes: 0 stopped on request; 1 stopped on request after the demo gave up on a program; 69
(EX_UNAVAILABLE) the stack could not start (a port in use, a program that failed; the message says which
and shows its last output).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from demo.stack import CACHE, DEFAULT_STATE, DemoStack, Options, Ports, summary
from demo.supervisor import SupervisorError

EX_UNAVAILABLE = 69


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/demo.sh", description="Run the Guardian demo stack on this machine.")
    p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE,
                   help="configs, secrets, databases, recordings and logs (default: %(default)s; $GUARDIAN_DEMO_DIR)")
    p.add_argument("--fresh", action="store_true", help="forget the previous run's tenant, device and recordings")
    p.add_argument("--port-base", type=int, default=None, metavar="N",
                   help="use ports N (cloud), N+1 (relay HTTPS), N+2 (uplink), N+3 (edge media), N+4 (camera), "
                   "N+5 (detector metrics), N+6 (archive store S3), N+7 (TURN), N+8 (MQTT) instead of 8000, "
                   "8443, 50051, 50052, 8554, 9465, 8333, 3478, 1884")
    p.add_argument("--footage", type=Path, default=CACHE / "vtest.mp4", help="H.264 MP4 the camera loops")
    p.add_argument("--quiet", action="store_true", help="do not stream the programs' logs (they stay in logs/)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ports = Ports.from_base(args.port_base) if args.port_base else Ports()
    stack = DemoStack(Options(state_dir=args.state_dir.expanduser().resolve(), ports=ports, footage=args.footage,
                              fresh=args.fresh, echo=not args.quiet, log_level=args.log_level))

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise _Stop(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    code = 0
    try:
        try:
            info = stack.up()
        except SupervisorError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return EX_UNAVAILABLE
        print(summary(stack, info), flush=True)
        while True:
            time.sleep(0.5)
            assert stack.sup is not None
            stack.sup.watch()  # restarts what died (this thread started the children: see Supervisor._popen)
    except _Stop as stop:
        print(f"\ndemo: {signal.Signals(stop.signum).name}: stopping…", file=sys.stderr, flush=True)
    finally:
        # A second Ctrl-C must not interrupt the orderly stop (the children are killed if they hang).
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        if stack.sup is not None and stack.sup.given_up():
            names = ", ".join(c.name for c in stack.sup.given_up())
            print(f"demo: gave up on {names} while running (see logs/supervisor.log)", file=sys.stderr, flush=True)
            code = 1
        codes = stack.down()
        if codes:
            print("demo: stopped " + ", ".join(f"{n} ({c})" for n, c in reversed(list(codes.items()))),
                  file=sys.stderr, flush=True)
    return code
