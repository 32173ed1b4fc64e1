#!/bin/bash
# End-to-end step of scripts/boot-test.sh on the relay VM (credential guardian.bootcheck.e2e): keeps
# the relay up until an edge has enrolled on its own and one of its events (or the number the credential
# guardian.bootcheck.events asks for) is in the relay's cache (read-only, as the relay's dynamic user).
# Prints GUARDIAN-CHECK e2e … lines, the first with the image version it runs.
set -u
say() { echo "GUARDIAN-CHECK e2e $*" >/dev/console; }
mode="$(cat "${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.bootcheck.mode" 2>/dev/null)"
# The relay waits on the edge, which boots, enrols and starts its agents first: give it at least 600 s
# (1500 with a real cloud, where the camera is added from the UI after that; TCG on a loaded host).
min_s=600; [ "$mode" = cloud ] && min_s=1500
wait_s=${GUARDIAN_E2E_TIMEOUT:-900}; [ "$wait_s" -ge "$min_s" ] || wait_s=$min_s
# The caller's own bound, when it gave one, replaces these (credential guardian.bootcheck.wait, seconds from
# boot): the nspawn boot runs at native speed and needs no TCG allowance.
extra="$(cat "${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.bootcheck.wait" 2>/dev/null)"
[ -n "$extra" ] && wait_s=$extra
deadline=$(( $(cut -d. -f1 /proc/uptime) + wait_s ))
query() {
    systemd-run --quiet --wait --pipe --collect -p DynamicUser=yes -p User=guardian-relay -p Group=guardian-relay \
        -p StateDirectory=guardian-relay /usr/lib/guardian/bin/python -c "
import sqlite3; c = sqlite3.connect('file:/var/lib/guardian-relay/relay.db?mode=ro', uri=True)
print(' '.join(str(r[0]) for r in c.execute('''$1''')))" 2>/dev/null
}
device=""; event=""; forwarded=""
. /usr/lib/os-release
say "image version=$IMAGE_VERSION uptime=$(cut -d' ' -f1 /proc/uptime)"
# How many events to wait for (credential guardian.bootcheck.events, default 1): the relay-replacement test's
# second boot waits for the one the edge queued while the relay was away.
want="$(cat "${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.bootcheck.events" 2>/dev/null || echo 1)"
# With a real cloud (mode cloud: a camera's event; download: the edge's queued one), only once the cloud has
# acknowledged it (forwarded).
if [ "$mode" = cloud ] || [ "$mode" = download ]; then
    forwarded="where forwarded_at is not null"
fi
while :; do
    [ -n "$device" ] || { device="$(query 'select device_id from devices')"; [ -n "$device" ] && say "device=${device// /,} enrolled=yes uptime=$(cut -d' ' -f1 /proc/uptime)"; }
    event="$(query "select event_id from events $forwarded")"
    [ -n "$event" ] && [ "$(wc -w <<<"$event")" -ge "$want" ] && break
    [ "$(cut -d. -f1 /proc/uptime)" -ge "$deadline" ] && { say "device=${device:-none} event=none"; exit 1; }
    sleep 2
done
say "event=${event// /,} received=yes${forwarded:+ forwarded=yes} uptime=$(cut -d' ' -f1 /proc/uptime)"
# Issue #23: the edge's journal reached this relay's journal-remote through the tunnel, on the first boot too
# (relay.toml came as a tmpfiles.extra credential, after the generators: guardian-journal-remote-late.service).
lines=0
for _ in $(seq 30); do
    lines="$(journalctl -D /var/log/journal/remote -q --no-pager -o cat _SYSTEMD_UNIT=guardian-edge-uplink.service 2>/dev/null | wc -l)"
    [ "$lines" -gt 0 ] && break
    sleep 2
done
say "journal=$([ "$lines" -gt 0 ] && echo yes || echo no) uplink_lines=$lines socket=$(systemctl is-active systemd-journal-remote.socket) listen=$(systemctl show -P Listen systemd-journal-remote.socket | tr ' ' ,)"
# Issue #19: with an updates origin, the edge then fetches an update through this relay's mirror
# (e2e-edge.sh): stay up until the mirror has stored a file and no edge is still reading one.
if grep -q '^\[updates\]' /etc/guardian/relay.toml 2>/dev/null; then
    objects=/var/cache/guardian-relay/updates/objects
    stored() { find "$objects" -maxdepth 1 -type f ! -name '.partial-*' 2>/dev/null | wc -l; }
    reading() { ss -Htn state established '( sport = :8480 )' | wc -l; }
    update_deadline=$(( $(cut -d. -f1 /proc/uptime) + 300 ))
    until [ "$(stored)" -gt 0 ] && [ "$(reading)" -eq 0 ]; do
        [ "$(cut -d. -f1 /proc/uptime)" -ge "$update_deadline" ] && break
        sleep 1
    done
    say "updates stored=$(stored) listen=$(ss -Htln '( sport = :8480 )' | awk '{print $4}' | tr '\n' ,)"
fi
# Issue #19: operators reach the edge through this relay (pyinfra's ProxyJump: this hop). With the operator's
# key (boot-test.sh only), log in on the edge's tunnel address, then try its LAN address: nothing may answer
# there (the edge's guardian-sshd.socket is bound to its WireGuard interface).
key="${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.bootcheck.operator-key"
if [ -s "$key" ] && [ -n "$device" ]; then
    cp "$key" /run/operator-key && chmod 600 /run/operator-key
    tunnel="$(query "select tunnel_address from devices")"
    lan="$(cat "${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.bootcheck.edge-lan" 2>/dev/null || echo 10.78.0.2)"
    ssh_to() { timeout 180 ssh -i /run/operator-key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o BatchMode=yes -o ConnectTimeout=60 "root@$1" 'touch /run/guardian-operator-login; . /usr/lib/os-release; echo "$IMAGE_ID-$IMAGE_VERSION"' 2>/run/ssh-$1.err; }
    over_tunnel="$(ssh_to "$tunnel")"
    over_lan="$(ssh_to "$lan")"
    say "ssh tunnel=${over_tunnel:-failed:$(tr ' ' _ </run/ssh-$tunnel.err | tail -c 200)} lan=${over_lan:-refused:$(tr ' ' _ </run/ssh-$lan.err | tail -c 120)}"
fi
