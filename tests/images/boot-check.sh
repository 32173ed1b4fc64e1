#!/bin/bash
# Runs inside a booted appliance image (nspawn or QEMU), delivered with its unit as system
# credentials (guardian.bootcheck + systemd.extra-unit.guardian-boot-check.service). Waits for every
# enabled Guardian agent unit to be active, then prints machine-readable lines on the console
# and powers off:
#   GUARDIAN-CHECK unit=U active=STATE ready_us=MONOTONIC_USEC   one per agent unit
#   GUARDIAN-CHECK baseline unit=basic.target ready_us=MONOTONIC_USEC   the OS before the agents
#   GUARDIAN-CHECK failed=U                                      one per failed unit
#   GUARDIAN-CHECK security unit=U exposure=X level=L            systemd-analyze security
#   GUARDIAN-CHECK firstboot=STATE status=…                      the enrolment unit's status line
#   GUARDIAN-CHECK-END rc=0|1
set -u
timeout="${GUARDIAN_CHECK_TIMEOUT:-300}"
out=/dev/console
say() { echo "GUARDIAN-CHECK $*" >"$out"; }

# The full boot test adds a role-specific end-to-end step (tests/images/e2e-ROLE.sh) as the
# credential guardian.bootcheck.e2e: enrolment and an event across the two VMs. Its result lines
# are part of the report, and it runs first so that the units below are reported as they end up.
if [ -s "${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.bootcheck.e2e" ]; then
    GUARDIAN_E2E_TIMEOUT="$timeout" bash "$CREDENTIALS_DIRECTORY/guardian.bootcheck.e2e" || { echo "GUARDIAN-CHECK e2e rc=1" >"$out"; e2e_rc=1; }
fi

mapfile -t agents < <(systemctl list-unit-files --no-legend --state=enabled 'guardian-edge-*.service' 'guardian-relay.service' 'guardian-relay-*.service' | awk '{print $1}')
deadline=$(( $(cut -d. -f1 /proc/uptime) + timeout ))
while :; do
    pending=0
    for u in "${agents[@]}"; do
        # A unit whose condition is unmet (uplink before enrolment, relay without config) is skipped.
        [ "$(systemctl show -P ConditionResult "$u")" = no ] && continue
        [ "$(systemctl is-active "$u")" = active ] || pending=1
    done
    # Jobs still queued (other than this check) mean the boot is not finished.
    jobs="$(systemctl list-jobs --no-legend | grep -vc guardian-boot-check)"
    [ "$pending" = 0 ] && [ "$jobs" = 0 ] && break
    [ "$(cut -d. -f1 /proc/uptime)" -ge "$deadline" ] && break
    sleep 1
done

rc=${e2e_rc:-0}
say "agents=${#agents[@]} uptime=$(cut -d' ' -f1 /proc/uptime)"
for u in "${agents[@]}"; do
    state="$(systemctl is-active "$u")"
    ready="$(systemctl show -P ActiveEnterTimestampMonotonic "$u")"
    if [ "$(systemctl show -P ConditionResult "$u")" = no ]; then
        state="skipped"; ready=""
    fi
    say "unit=$u active=$state ready_us=$ready"
    case "$state" in active|skipped) ;; *) rc=1 ;; esac
done
# Baseline for the figures (bench/images.sh): the OS up to basic.target, before any agent starts.
say "baseline unit=basic.target ready_us=$(systemctl show -P ActiveEnterTimestampMonotonic basic.target)"
while read -r u _; do
    [ -n "$u" ] || continue
    say "failed=$u"
    rc=1
done < <(systemctl list-units --failed --no-legend --plain)
for u in "${agents[@]}" guardian-firstboot.service; do
    systemctl cat "$u" >/dev/null 2>&1 || continue
    line="$(systemd-analyze security --no-pager "$u" 2>/dev/null | tail -n1)"
    # "→ Overall exposure level for U: 2.1 OK 🙂"
    exposure="$(sed -n 's/.*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' <<<"$line")"
    say "security unit=$u exposure=${exposure% *} level=${exposure#* }"
done
if systemctl cat guardian-firstboot.service >/dev/null 2>&1; then
    say "firstboot=$(systemctl is-active guardian-firstboot.service) status=$(cat /run/guardian-enrol/status 2>/dev/null)"
fi
# The agents' own journal lines, for the test's failure messages.
journalctl -b --no-pager -o cat -u 'guardian-*' 2>/dev/null | tail -n 40 | sed 's/^/GUARDIAN-LOG /' >"$out"
echo "GUARDIAN-CHECK-END rc=$rc" >"$out"
systemctl --no-block poweroff
