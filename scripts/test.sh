#!/usr/bin/env bash
# Set up (idempotent), scan the dependencies and run the whole test suite. Extra arguments go to pytest.
#   scripts/test.sh                 everything, with the dependency scan (what CI runs)
#   scripts/test.sh tests/runtime   one area, no scan
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
cd "$ROOT"

# scripts/audit.sh: 0 clean, 1 known vulnerabilities, 3 not audited (no vulnerability source reachable,
# as on a closed network). Only 3 lets the run pass, and it says so; anything else fails it, after the
# tests ran, so that both are reported.
audit=0
if [ $# -eq 0 ]; then
    printf '\n==> dependency audit (scripts/audit.sh)\n'
    "$ROOT/scripts/audit.sh" || audit=$?
    [ "$audit" -eq 3 ] && echo "dependency audit: NOT AUDITED, no vulnerability source answered; not a failure"
fi

tests=0
"${GUARDIAN_VENV:-$ROOT/.venv}/bin/python" -m pytest -p no:cacheprovider "${@:-tests}" || tests=$?
if [ "$tests" -eq 0 ] && [ "$audit" -ne 0 ] && [ "$audit" -ne 3 ]; then
    echo "dependency audit failed (exit $audit): see its report before the tests"
    exit 1
fi
exit "$tests"
