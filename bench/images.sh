#!/usr/bin/env bash
# Image figures: cold and warm build times and sizes for both appliances (targets: edge <= 1.5 GB,
# relay <= 600 MB, warm rebuild <= 2 min), then the QEMU (TCG) full boot test: boot-to-all-agents-ready,
# `systemd-analyze security` of every agent unit from inside the booted images, the end-to-end lines.
#   bench/images.sh            warm builds + boot test (assumes one build happened before)
#   bench/images.sh --cold     also a cold build per image first (drops the incremental caches)
# Baselines measured in the same run: for builds, writing the finished image once more (a sparse copy
# of the .raw on the same disk: the I/O floor every build pays); for the boot, when basic.target was
# reached in the same boot (the OS before any agent starts), next to when the agents were ready.
# Exit status: non-zero when a build or the boot test failed; the boot figures are only ever this run's.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GUARDIAN_CACHE:-$HOME/.cache/guardian}"
OUT="${GUARDIAN_IMAGES_OUT:-$CACHE/images/out}"
SUMMARY="$CACHE/images/boot-test/summary.json"
cold="${1:-}"
now() { date +%s.%N; }
since() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$1" "$(now)"; }
declare -A t=()
for role in edge relay; do
    if [ "$cold" = --cold ]; then
        s=$(now); "$ROOT/scripts/build-image.sh" "$role" --cold >/dev/null; t[$role-cold]=$(since "$s")
    fi
    s=$(now); "$ROOT/scripts/build-image.sh" "$role" >/dev/null; t[$role-warm]=$(since "$s")
    # Baseline: write the image once more, the way the build's last step does (sparse, same disk).
    copy="$OUT/.bench-copy-$role.raw"
    s=$(now); cp --sparse=always "$OUT/guardian-$role.raw" "$copy"; sync -f "$copy"; t[$role-copy]=$(since "$s")
    rm -f "$copy"
done

# The summary of an earlier run must never stand in for this one: it is removed first, and only a
# summary written by this boot test is read.
rm -f "$SUMMARY"
boot_rc=0
"$ROOT/scripts/boot-test.sh" both || boot_rc=$?

printf '%-8s %10s %10s %12s %12s %12s %10s\n' image cold_s warm_s copy_base_s raw_MiB alloc_MiB qcow2_MiB
for role in edge relay; do
    raw="$OUT/guardian-$role.raw"
    q="$OUT/guardian-$role.qcow2"
    printf '%-8s %10s %10s %12s %12s %12s %10s\n' "$role" "${t[$role-cold]:--}" "${t[$role-warm]}" "${t[$role-copy]}" \
        $(( $(stat -c %s "$raw") / 1048576 )) $(( $(du -B1 "$raw" | cut -f1) / 1048576 )) \
        "$( [ -f "$q" ] && echo $(( $(stat -c %s "$q") / 1048576 )) || echo -)"
done
echo "(copy_base_s: baseline, the same image written once more on the same disk in this run)"

if [ ! -s "$SUMMARY" ]; then
    echo "boot test: FAILED (exit $boot_rc) before writing a summary: no boot figures from this run"
    exit 1
fi
python3 - "$SUMMARY" "$boot_rc" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rc = int(sys.argv[2])
for role, r in d.items():
    ok = r["ok"] and rc == 0
    base = r.get("basic_target_s_since_kernel")
    print(f"{role}: {'OK' if ok else 'FAILED'}; agents ready {r['agents_ready_s_since_kernel']} s after kernel start "
          f"(baseline, same boot: basic.target at {base} s); check seen {r['check_seen_s_since_qemu_start']} s "
          f"after QEMU start; failed units: {r['failed'] or 'none'}")
    for unit, sec in r["security"].items():
        print(f"  systemd-analyze security {unit}: {sec['exposure']} {sec['level']}")
    for line in r.get("e2e", []):
        print(f"  e2e {line}")
if rc:
    print(f"boot test: FAILED (exit {rc})")
PY
exit "$boot_rc"
