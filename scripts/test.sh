#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite. Extra arguments go to pytest.
#   scripts/test.sh                 everything
#   scripts/test.sh tests/runtime   one area
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "${GUARDIAN_VENV:-$ROOT/.venv}/bin/python" -m pytest -p no:cacheprovider "${@:-tests}"
