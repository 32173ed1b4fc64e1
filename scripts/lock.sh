#!/usr/bin/env bash
# Write the Python lock files, requirements/<role>.txt: every package a role installs, pinned, with the
# sha256 of each of its release files (pip --require-hashes refuses anything else). Run it after changing
# dependencies in pyproject.toml; tests/test_locks.py fails while a lock disagrees with pyproject.toml.
#
#   scripts/lock.sh             keep the pins that pyproject.toml still allows, add or drop the rest
#   scripts/lock.sh --upgrade   move every pin to the newest release allowed (then run the tests)
#
# dev.txt is the development and CI venv (every extra; scripts/setup.d/10-python.sh installs it). The
# appliance and operator roles (edge, relay, cloud, provisioning) are resolved within dev.txt's pins, so
# what the tests run is what each role ships. Locks are universal (any OS, Python >= 3.11): the images'
# Python and architecture need not be this machine's.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV="${GUARDIAN_VENV:-$ROOT/.venv}/bin/uv"
cd "$ROOT"

common=(--quiet --generate-hashes --universal --python-version 3.11 --custom-compile-command "scripts/lock.sh")
case "${1:-}" in
    "") upgrade=() ;;
    --upgrade) upgrade=(--upgrade) ;;
    *) echo "usage: scripts/lock.sh [--upgrade]" >&2; exit 64 ;;
esac

mkdir -p requirements
"$UV" pip compile pyproject.toml --extra edge --extra relay --extra cloud --extra provisioning --extra dev \
    "${common[@]}" "${upgrade[@]}" -o requirements/dev.txt

for role in edge relay cloud provisioning; do
    "$UV" pip compile pyproject.toml --extra "$role" -c requirements/dev.txt "${common[@]}" -o "requirements/$role.txt"
done
echo "lock files written:" requirements/*.txt
