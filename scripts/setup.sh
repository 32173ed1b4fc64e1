#!/usr/bin/env bash
# Set up this checkout on a fresh Debian 12 / Ubuntu machine: system packages, the Python venv with
# every role's extra, and the cached assets (test footage, models, UI build). Idempotent: a second run
# only checks. Runs as root, or through sudo when it needs to.
#
#   scripts/setup.sh            everything (what tests and the demo need)
#
# Each concern lives in scripts/setup.d/NN-name.sh and is sourced in order with these helpers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GUARDIAN_VENV:-$ROOT/.venv}"
CACHE="${GUARDIAN_CACHE:-$HOME/.cache/guardian}"
export ROOT VENV CACHE
mkdir -p "$CACHE"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

step() { printf '\n==> %s\n' "$*"; }

_apt_updated=""
# apt_install PKG...: install what is missing, with one `apt-get update` per run at most.
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ -z "$_apt_updated" ]; then $SUDO apt-get update -qq; _apt_updated=1; fi
    echo "installing: ${missing[*]}"
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# pip_install ARGS...: into the project's venv.
pip_install() { "$VENV/bin/pip" install -q --disable-pip-version-check "$@"; }

for piece in "$ROOT"/scripts/setup.d/*.sh; do
    # shellcheck source=/dev/null
    source "$piece"
done
step "setup complete (venv: $VENV, cache: $CACHE)"
