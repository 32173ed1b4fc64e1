#!/usr/bin/env bash
# The local demo stack: set up (idempotent), then run every program on this machine as the current user
# (fake camera with real footage → edge recorder, detector, uplink → relay in tls mode → cloud + web UI,
# on SQLite) with a demo tenant whose login is printed. Ctrl-C stops everything.
#   scripts/demo.sh                  start (reuses the previous run's tenant and device)
#   scripts/demo.sh --fresh          start from scratch
#   scripts/demo.sh --help           options (state directory, ports, quiet)
# Set GUARDIAN_DEMO_SKIP_SETUP=1 to skip scripts/setup.sh (it only checks on a second run anyway).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case " $* " in *" --help "*|*" -h "*) GUARDIAN_DEMO_SKIP_SETUP=1 ;; esac
if [ -z "${GUARDIAN_DEMO_SKIP_SETUP:-}" ]; then "$ROOT/scripts/setup.sh"; fi
cd "$ROOT"
exec "${GUARDIAN_VENV:-$ROOT/.venv}/bin/python" -m demo "$@"
