#!/usr/bin/env bash
# Run mkosi 25.x from Debian trixie without changing the host.
#
#   scripts/mkosi.sh [mkosi args...]        e.g. scripts/mkosi.sh --profile relay -f build
#   scripts/mkosi.sh --fetch-only           just make sure mkosi is cached
#
# The host is Debian 12 (mkosi 24 at best, through backports). This downloads the trixie `mkosi`
# .deb with a private APT configuration (own sources list, state and cache dirs: the host's apt is
# untouched), unpacks it under $CACHE/mkosi/<version> and runs it with the host's python3 (mkosi is
# pure Python and supports 3.9+). It also writes the sandbox tree that replaces mkosi's default apt
# sources (mkosi always adds Debian's debug-symbols repository, which answers 400 here).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GUARDIAN_CACHE:-$HOME/.cache/guardian}"
MKOSI_DIR="$CACHE/mkosi"
# The Debian mirror: the host's own (taken from its sources), so a local mirror/proxy is honoured.
MIRROR="${GUARDIAN_DEBIAN_MIRROR:-}"
if [ -z "$MIRROR" ]; then
    MIRROR="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    MIRROR="${MIRROR:-http://deb.debian.org/debian}"
fi
SECURITY_MIRROR="${GUARDIAN_DEBIAN_SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}"

fetch_mkosi() {
    local apt="$MKOSI_DIR/apt"
    mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/etc/preferences.d" "$apt/etc/apt.conf.d"
    cat >"$apt/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie-updates main
SRC
    cat >"$apt/apt.conf" <<CONF
Dir::State "$apt/state";
Dir::State::status "$apt/state/status";
Dir::Cache "$apt/cache";
Dir::Etc::SourceList "$apt/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::Etc::Preferences "$apt/etc/preferences";
Dir::Etc::PreferencesParts "$apt/etc/preferences.d";
Dir::Etc::Parts "$apt/etc/apt.conf.d";
APT::Architecture "amd64";
Acquire::Languages "none";
APT::Sandbox::User "root";
CONF
    touch "$apt/state/status"
    export APT_CONFIG="$apt/apt.conf"
    apt-get update -qq
    local version
    version="$(apt-cache show mkosi | awk '/^Version:/ {print $2; exit}')"
    local dest="$MKOSI_DIR/$version"
    if [ ! -f "$dest/usr/lib/python3/dist-packages/mkosi/__init__.py" ]; then
        local tmp
        tmp="$(mktemp -d)"
        (cd "$tmp" && apt-get download -qq "mkosi=$version")
        mkdir -p "$dest"
        dpkg-deb -x "$tmp"/mkosi_*.deb "$dest"
        rm -rf "$tmp"
    fi
    ln -sfn "$version" "$MKOSI_DIR/current"
    unset APT_CONFIG
}

write_sandbox_tree() {
    # Apt sources for inside mkosi's sandbox and tools tree: trixie, -updates and -security only.
    local tree="$MKOSI_DIR/sandbox"
    mkdir -p "$tree/etc/apt/sources.list.d"
    cat >"$tree/etc/apt/sources.list.d/mkosi.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: trixie trixie-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: trixie-security
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}

if [ ! -f "$MKOSI_DIR/current/usr/lib/python3/dist-packages/mkosi/__init__.py" ] || [ "${GUARDIAN_MKOSI_REFRESH:-}" = 1 ]; then
    fetch_mkosi
fi
write_sandbox_tree

if [ "${1:-}" = "--fetch-only" ]; then
    echo "mkosi $(readlink "$MKOSI_DIR/current") at $MKOSI_DIR/current"
    exit 0
fi

cd "$ROOT"
export PYTHONPATH="$MKOSI_DIR/current/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}"
# The sandbox tree is machine-specific (mirror URIs), so it is passed here, not committed.
exec python3 -B -m mkosi \
    --sandbox-tree="$MKOSI_DIR/sandbox" \
    --tools-tree-sandbox-tree="$MKOSI_DIR/sandbox" \
    "$@"
