#!/bin/bash
# End-to-end step of scripts/boot-test.sh on the edge VM (credential guardian.bootcheck.e2e, run by
# boot-check.sh before its unit report). Waits until first boot has enrolled the device on its own
# and the uplink is active, then queues one event through the edge's own EventStore (as the agents'
# dynamic user, the way the detector writes events: a VM has no camera) and waits until the relay
# has acknowledged it (acknowledged outbox rows are deleted), then runs the image's boot assessment
# again now that it is enrolled. Also used by the nspawn boots (tests/images/nspawnlab.py,
# test_nspawn_relay_replaced.py), whose extra steps are credentials. Prints GUARDIAN-CHECK e2e … lines.
set -u
say() { echo "GUARDIAN-CHECK e2e $*" >/dev/console; }
wait_s=${GUARDIAN_E2E_TIMEOUT:-900}
# With a real cloud the camera comes from the UI after enrolment: give it at least 1500 s from boot
# (TCG on a loaded 2-core host took 5 min to leave the initrd).
[ "$(cat "${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.bootcheck.mode" 2>/dev/null)" = cloud ] && [ "$wait_s" -lt 1500 ] && wait_s=1500
# The caller's own bound, when it gave one, replaces these (credential guardian.bootcheck.wait, seconds from
# boot): the nspawn boot runs at native speed and needs no TCG allowance.
extra="$(cat "${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.bootcheck.wait" 2>/dev/null)"
[ -n "$extra" ] && wait_s=$extra
deadline=$(( $(cut -d. -f1 /proc/uptime) + wait_s ))
late() { [ "$(cut -d. -f1 /proc/uptime)" -ge "$deadline" ]; }

# The uplink's own words when it fails to start (once per failed start), for the test's failure message.
shown=0
until [ -e /var/lib/guardian-enrol/enrolled ] && [ "$(systemctl is-active guardian-edge-uplink.service)" = active ]; do
    late && { say "enrolled=no status=$(tr ' ' '_' </run/guardian-enrol/status 2>/dev/null)"; exit 1; }
    restarts="$(systemctl show -P NRestarts guardian-edge-uplink.service)"
    if [ "${restarts:-0}" -gt "$shown" ]; then
        shown="$restarts"
        journalctl -b --no-pager -o cat -n 25 -u guardian-edge-uplink.service | sed 's/^/GUARDIAN-LOG uplink: /' >/dev/console
    fi
    sleep 2
done
say "enrolled=yes uptime=$(cut -d' ' -f1 /proc/uptime) status=$(tr ' ' '_' </run/guardian-enrol/status)"
if grep -q '^guardian-data ' /etc/crypttab 2>/dev/null; then  # a flashed disk's data partition (docs/images.md)
    say "data mount=$(findmnt -nvo SOURCE,FSTYPE /var/lib/private/guardian-edge | tr ' ' :)" \
        "keyslots=$(systemd-cryptenroll /dev/disk/by-partlabel/guardian-data 2>/dev/null | awk 'NR>1{print $2}' | sort | tr '\n' ,)" \
        "keyfile=$([ -e /etc/guardian/data-partition.key ] && echo yes || echo no)" \
        "tpm2=$(systemd-analyze has-tpm2 --quiet && echo yes || echo no)"
fi

as_edge=(systemd-run --quiet --wait --pipe --collect -p DynamicUser=yes -p User=guardian-edge -p Group=guardian-edge
         -p StateDirectory=guardian-edge -p Environment=HOME=/var/lib/guardian-edge
         /usr/lib/guardian/bin/python -c)

# Issue #19: an update through the relay's mirror, the way the image updates: the command the image's
# systemd-sysupdate.service runs first (guardian-updates -> the relay's tunnel address), then the image's own
# systemd-sysupdate and systemd-pull. The transfer writes a file instead of a partition (a directory image has
# none), without a signature check (the image does not carry the test's release key; tests/relay checks
# signatures through the mirror with systemd-pull).
update_through_the_relay() {
    local defs=/run/guardian-update-test target=/var/lib/guardian-update-test hosts rc got
    mkdir -p "$defs" "$target"
    printf '%s\n' '[Transfer]' 'Verify=no' '[Source]' 'Type=url-file' \
        'Path=http://guardian-updates:8480/guardian-edge/' 'MatchPattern=guardian-edge_@v_x86-64.efi' \
        '[Target]' 'Type=regular-file' "Path=$target" 'MatchPattern=probe_@v.efi' 'Mode=0644' >"$defs/50-probe.transfer"
    hosts="$(grep -E '^[^#]*ExecStartPre=' /usr/lib/systemd/system/systemd-sysupdate.service.d/50-guardian.conf | cut -d= -f2-)"
    $hosts >/dev/null 2>"$defs.err"; rc=$?
    [ "$rc" = 0 ] || sed 's/^/GUARDIAN-LOG update-source: /' "$defs.err" >/dev/console
    /usr/lib/systemd/systemd-sysupdate --definitions="$defs" update >"$defs.log" 2>&1; rc=$?
    got="$(sha256sum "$target"/probe_*.efi 2>/dev/null | cut -d' ' -f1)"
    say "update rc=$rc source=$(getent hosts guardian-updates | tr -s ' ' _) files=$(ls "$target" | tr '\n' ,) sha256=${got:-none}"
    [ "$rc" = 0 ] || tail -n 12 "$defs.log" | sed 's/^/GUARDIAN-LOG sysupdate: /' >/dev/console
}

# Issue #19: the boot assessment as the image runs it (guardian-edge-healthy.service, its sandbox and its stamp),
# now that the device is enrolled: at boot it found the uplink not configured yet and assessed nothing of it.
# Passes only with the uplink READY and a heartbeat the relay acknowledged.
assess_this_boot() {
    systemctl restart guardian-edge-healthy.service
    say "assessment=$(systemctl is-active guardian-edge-healthy.service)" \
        "$(journalctl -b --no-pager -o cat -u guardian-edge-healthy.service | grep -F 'guardian-edge-uplink.service:' | tail -n 1 | tr ' ' _)"
}

# Issue #19: when this edge trusts an operator key (boot-test.sh gives one), stay up until the relay's e2e step
# has logged in over the tunnel (its command leaves /run/guardian-operator-login), at most 300 s.
wait_for_the_operator() {
    [ -s /root/.ssh/authorized_keys ] || return 0
    local until_s=$(( $(cut -d. -f1 /proc/uptime) + 300 ))
    until [ -e /run/guardian-operator-login ] || [ "$(cut -d. -f1 /proc/uptime)" -ge "$until_s" ]; do sleep 1; done
    say "operator_ssh=$([ -e /run/guardian-operator-login ] && echo yes || echo no)" \
        "socket=$(systemctl is-active guardian-sshd.socket) listen=$(systemctl show -P Listen guardian-sshd.socket | tr ' ' ,)"
}

# With a real cloud (boot-test.sh --cloud): no event is queued here. The owner adds the camera from the
# UI while this waits; done once the detector's first event from that camera is acknowledged by the relay.
if [ "$(cat "${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.bootcheck.mode" 2>/dev/null)" = cloud ]; then
    next_report=0
    while :; do
        # What the detector is doing, once a minute (under TCG an inference may be slow enough to matter).
        if [ "$(cut -d. -f1 /proc/uptime)" -ge "$next_report" ]; then
            next_report=$(( $(cut -d. -f1 /proc/uptime) + 60 ))
            /usr/lib/guardian/bin/python -c "
import urllib.request
text = urllib.request.urlopen('http://127.0.0.1:9465/metrics', timeout=5).read().decode()
keep = ('detection_frames_total{', 'detection_inference_seconds_sum', 'detection_inference_seconds_count',
        'detection_detections_total{', 'events_opened_total{', 'detection_model_loaded ')
print('\n'.join(line for line in text.splitlines() if not line.startswith('#') and any(k in line for k in keep)))" 2>&1 | sed 's/^/GUARDIAN-LOG detector-metrics: /' >/dev/console
            say "detector_status=$(systemctl show -P StatusText guardian-edge-detector.service | tr ' ' _)" \
                "restarts=$(systemctl show -P NRestarts guardian-edge-detector.service) uptime=$(cut -d' ' -f1 /proc/uptime)"
            journalctl -b --no-pager -o cat -n 6 -u guardian-edge-detector.service | sed 's/^/GUARDIAN-LOG detector: /' >/dev/console
            # Why systemd ended it, if it did (watchdog, OOM kill, exit code): the tail above may not reach back.
            journalctl -b --no-pager -o cat -u guardian-edge-detector.service \
                | grep -E 'Failed with result|Watchdog timeout|Main process exited|oom' | tail -n 3 \
                | sed 's/^/GUARDIAN-LOG detector-end: /' >/dev/console
        fi
        acked="$("${as_edge[@]}" "
import sqlite3; c = sqlite3.connect('file:/var/lib/guardian-edge/edge.db?mode=ro', uri=True)
row = c.execute('select id, camera from events where id not in (select key from outbox) order by start_at limit 1').fetchone()
print(f'{row[0]} camera={row[1]}' if row else '')" 2>/dev/null)"
        [ -n "$acked" ] && break
        late && { say "camera_event=none acked=no"; exit 1; }
        sleep 2
    done
    say "event=$acked acked=yes uptime=$(cut -d' ' -f1 /proc/uptime)"
    assess_this_boot
    [ -s "${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.bootcheck.update" ] && update_through_the_relay
    wait_for_the_operator
    exit 0
fi

queue_event() {  # queue_event ID: one event through the edge's own EventStore, as the detector writes them
    "${as_edge[@]}" "
from datetime import UTC, datetime
from pathlib import Path
from agents.edge.config import EdgeSettings
from agents.edge.db import database_path, open_database
from agents.edge.db.tables import EventRow
from agents.edge.events.store import EventStore
from guardian.runtime.config import load_settings
s = load_settings(EdgeSettings, Path('/etc/guardian/edge.toml'))
_, sessions = open_database(database_path(s))
now = datetime.now(UTC)
EventStore(sessions).save(EventRow(id='$1', camera='boot-test', label='person', model='boot-test@0',
    start_at=now, end_at=now, ended=True, max_score=0.9, mean_score=0.8, hits=3))
"
}

wait_acked() {  # wait_acked ID: until the relay has acknowledged it (its outbox row deleted), or the deadline
    local left
    while :; do
        left="$("${as_edge[@]}" "
import sqlite3; c = sqlite3.connect('file:/var/lib/guardian-edge/edge.db?mode=ro', uri=True)
print(c.execute('select count(*) from outbox where key = ?', ('$1',)).fetchone()[0])")"
        [ "$left" = 0 ] && return 0
        late && return 1
        sleep 2
    done
}

uplink_sessions() {  # how many streams the uplink has opened to the relay (its own counter)
    /usr/lib/guardian/bin/python -c "
import urllib.request
text = urllib.request.urlopen('http://127.0.0.1:9466/metrics', timeout=5).read().decode()
print(next(int(float(l.split()[-1])) for l in text.splitlines() if l.startswith('guardian_edge_uplink_reconnects_total ')))"
}

# Issue #19 (credential guardian.bootcheck.relay-replaced; tests/images/test_nspawn_relay_replaced.py, and
# test_ab_update.py, where the relay VM updates itself): stay up while the relay goes, gets a new image version
# and boots again; queue an event while it is away, and see the replaced relay acknowledge it over the same
# tunnel, without enrolling again. The relay's first boot goes once it has a second event, the "ready" one
# below (in nspawn it powers off; under QEMU the test then updates it): the session count is taken before, so
# the new session that its going away starts cannot be missed.
across_the_relay_replacement() {
    [ -s "${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.bootcheck.relay-replaced" ] || return 0
    local sessions ready second
    sessions="$(uplink_sessions)" || { say "relay_gone=unknown (no uplink metrics)"; return 1; }
    ready="$(cat /proc/sys/kernel/random/uuid)"
    queue_event "$ready" && wait_acked "$ready" || { say "ready event=$ready acked=no"; return 1; }
    say "ready event=$ready acked=yes sessions=$sessions"
    until [ "$(uplink_sessions)" -gt "$sessions" ] 2>/dev/null; do
        late && { say "relay_gone=no"; return 1; }
        sleep 1
    done
    say "relay_gone=yes uptime=$(cut -d' ' -f1 /proc/uptime)"
    second="$(cat /proc/sys/kernel/random/uuid)"
    queue_event "$second" || { say "after_replacement event=$second queued=no"; return 1; }
    wait_acked "$second" || { say "after_replacement event=$second acked=no"; return 1; }
    say "after_replacement event=$second acked=yes uptime=$(cut -d' ' -f1 /proc/uptime) sessions=$(uplink_sessions)"
}

event_id="$(cat /proc/sys/kernel/random/uuid)"
queue_event "$event_id" || { say "event=$event_id queued=no"; exit 1; }
say "event=$event_id queued=yes"
wait_acked "$event_id" || { say "event=$event_id acked=no"; exit 1; }
say "event=$event_id acked=yes uptime=$(cut -d' ' -f1 /proc/uptime)"
assess_this_boot
wait_for_the_operator
across_the_relay_replacement
