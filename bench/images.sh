#!/usr/bin/env bash
# Image figures: cold and warm build times and sizes for both appliances (targets: edge <= 1.5 GB,
# relay <= 600 MB, warm rebuild <= 2 min), then the QEMU (TCG) full boot test: boot-to-all-agents-ready,
# `systemd-analyze security` of every agent unit from inside the booted images, the end-to-end lines.
#   bench/images.sh            warm builds + boot test (assumes one build happened before)
#   bench/images.sh --cold     also a cold build per image first (drops the incremental caches)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GUARDIAN_CACHE:-$HOME/.cache/guardian}"
OUT="${GUARDIAN_IMAGES_OUT:-$CACHE/images/out}"
cold="${1:-}"
declare -A t=()
for role in edge relay; do
    if [ "$cold" = --cold ]; then
        s=$(date +%s); "$ROOT/scripts/build-image.sh" "$role" --cold >/dev/null; t[$role-cold]=$(( $(date +%s) - s ))
    fi
    s=$(date +%s); "$ROOT/scripts/build-image.sh" "$role" >/dev/null; t[$role-warm]=$(( $(date +%s) - s ))
done
"$ROOT/scripts/boot-test.sh" both || true
printf '%-8s %10s %10s %12s %12s %10s\n' image cold_s warm_s raw_MiB alloc_MiB qcow2_MiB
for role in edge relay; do
    raw="$OUT/guardian-$role.raw"
    q="$OUT/guardian-$role.qcow2"
    printf '%-8s %10s %10s %12s %12s %10s\n' "$role" "${t[$role-cold]:--}" "${t[$role-warm]}" \
        $(( $(stat -c %s "$raw") / 1048576 )) $(( $(du -B1 "$raw" | cut -f1) / 1048576 )) \
        "$( [ -f "$q" ] && echo $(( $(stat -c %s "$q") / 1048576 )) || echo -)"
done
cat "$CACHE/images/boot-test/summary.json" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for role, r in d.items():
    print(f"{role}: {\"OK\" if r[\"ok\"] else \"FAILED\"}; agents ready {r[\"agents_ready_s_since_kernel\"]} s after kernel start; "
          f"check seen {r[\"check_seen_s_since_qemu_start\"]} s after QEMU start; failed units: {r[\"failed\"] or \"none\"}")
    for unit, sec in r["security"].items():
        print(f"  systemd-analyze security {unit}: {sec[\"exposure\"]} {sec[\"level\"]}")
    for line in r.get("e2e", []):
        print(f"  e2e {line}")
'
