#!/usr/bin/env bash
# Full boot test of the appliance disk images under QEMU (TCG: no KVM here), one command:
#
#   scripts/boot-test.sh [--build] [--cloud DIR [--image FILE]] [edge|relay|both]        (default: both)
#
# Boots the relay and the edge disk images side by side on one virtual LAN (QEMU socket netdev,
# 10.78.0.1 = relay, 10.78.0.2 = edge), with direct kernel boot (kernel + initrd split out by
# mkosi; ~2x faster than OVMF + systemd-boot under TCG). The edge image is first personalised
# with scripts/personalise-image.sh (ESP file: relay endpoint, bootstrap token, static address),
# exactly as a tenant's download, with a bootstrap token minted here (guardian.contracts.auth) by a test
# "cloud" key pair whose public half is in the relay's config. The relay gets an operator's config
# the way the image takes it: relay.toml through the tmpfiles.extra credential, TLS material (a test
# CA) and the signing key as the credentials guardian.relay.* (ImportCredential= in the image); the
# edge's enrol.conf carries the test CA (GUARDIAN_RELAY_CA) and its static address.
# The boot check (tests/images/boot-check.sh) rides in as system credentials over SMBIOS, with an
# end-to-end step per role (tests/images/e2e-ROLE.sh): the edge enrols on its own, queues one event,
# waits for the relay's ack; the relay waits until that event is in its cache. Then each VM reports
# on the serial console and powers off. Exit 0 only if every VM reports all agent units active,
# `systemctl --failed` empty and (with both) the event across.
#
# --cloud DIR (with both; tests/images/cloudlab.py prepares DIR): a real cloud and an RTSP camera run on
# the host instead of the stand-in key pair. DIR/lab.json names the cloud's port, the relay's id and tenant
# as registered there, the cloud's token key, the camera's port and the host port for the relay's media;
# DIR/token is a bootstrap token the cloud minted, DIR/relay-signing.key the relay's key. The relay VM
# gets a second NIC (QEMU user network, restrict=on) on which the cloud is http://10.0.2.100 (guestfwd)
# and its HTTPS port is 127.0.0.1:<media port> on the host (hostfwd, for the browser); the edge gets a
# camera NIC on which the host's camera is rtsp://10.0.2.100:8554 (guestfwd). The edge's path stays
# edge -> relay over WireGuard -> cloud. The end-to-end steps then wait for a real camera event instead
# of queuing one (credential guardian.bootcheck.mode=cloud); the camera itself is added from the UI by
# the caller while the VMs run. The relay's certificate is copied to DIR/relay.pem, each VM's start
# time to DIR/ROLE.start.
#
# --image FILE (with --cloud): the edge boots FILE, an image a tenant downloaded from the cloud's "Add a device"
# (already personalised: relay address, token, relay CA), instead of personalising the built one here. Its LAN
# address comes as a network credential, as a site's DHCP server would give one (the download carries none).
# DIR/material, when present, is the relay's material made beforehand (tests/images/relay_material.py), whose CA
# the cloud put into that download. The edge queues one event as without a cloud (mode "download"); the relay
# waits until the cloud has acknowledged it.
#
# Console logs and a summary (boot-to-agents-ready times) go to $CACHE/images/boot-test/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GUARDIAN_CACHE:-$HOME/.cache/guardian}"
OUT="${GUARDIAN_IMAGES_OUT:-$CACHE/images/out}"
LOGS="$CACHE/images/boot-test"
TIMEOUT="${GUARDIAN_BOOT_TIMEOUT:-1800}"   # bounds a failure: each VM powers off by itself when done
build=""
which="both"
lab=""
image=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=1 ;;
        --cloud) lab="$(cd "${2:?--cloud needs a directory}" && pwd)"; shift ;;
        --image) image="$(realpath "${2:?--image needs a file}")"; shift ;;
        edge|relay|both) which="$1" ;;
        *) echo "usage: $0 [--build] [--cloud DIR [--image FILE]] [edge|relay|both]" >&2; exit 64 ;;
    esac
    shift
done
[ -z "$lab" ] || [ "$which" = both ] || { echo "--cloud needs both VMs" >&2; exit 64; }
[ -z "$image" ] || [ -n "$lab" ] || { echo "--image needs --cloud" >&2; exit 64; }
[ -z "$image" ] || [ -f "$image" ] || { echo "--image $image: no such file" >&2; exit 66; }
roles=(); case "$which" in both) roles=(relay edge) ;; *) roles=("$which") ;; esac
for tool in qemu-system-x86_64 qemu-img sfdisk mcopy objcopy; do
    command -v "$tool" >/dev/null || { echo "$tool missing: run scripts/setup.sh (setup.d/60-images.sh)" >&2; exit 69; }
done
for role in "${roles[@]}"; do
    if [ -n "$build" ] || [ ! -f "$OUT/guardian-$role.raw" ]; then "$ROOT/scripts/build-image.sh" "$role"; fi
done

mkdir -p "$LOGS"
work="$(mktemp -d)"
pids=()
# QEMU for one VM. The UKI's panic=10 (copied to the command line below) reboots a kernel that panicked, which
# under -no-reboot ends QEMU: start it again on the same disk, as the box's own reboot would (at most twice).
# Multi-threaded TCG (the edge's 2 vCPUs) sometimes panics a kernel seconds into its boot.
run_vm() {
    local console=$1 restarts=0 mark qemu=""
    shift
    trap 'kill "$qemu" 2>/dev/null; exit 143' TERM
    while :; do
        mark=$(stat -c %s "$console" 2>/dev/null || echo 0)
        qemu-system-x86_64 "$@" &
        qemu=$!
        wait "$qemu" || return
        tail -c "+$((mark + 1))" "$console" | grep -aq 'Kernel panic - not syncing' && [ $((restarts += 1)) -le 2 ] \
            || return 0
        echo "kernel panic: QEMU started again ($restarts)"
    done
}
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port=$(( 20000 + RANDOM % 20000 ))
lab_get() { "${GUARDIAN_VENV:-$ROOT/.venv}/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$lab/lab.json" "$1"; }
b64() { base64 -w0 "$1"; }
cred() { printf 'io.systemd.credential.binary:%s=%s' "$1" "$2"; }

boot() {  # boot ROLE MAC NETDEV-ARGS KERNEL-EXTRA
    local role="$1" mac="$2" netdev="$3" extra="$4"
    local disk="$work/$role.qcow2"
    # With --cloud: a second NIC on a QEMU user network that reaches only what is forwarded (restrict=on).
    local uplink_args=()
    if [ -n "$lab" ]; then
        local fwd="cmd:${GUARDIAN_VENV:-$ROOT/.venv}/bin/python $ROOT/tests/images/stdio_tcp.py 127.0.0.1"
        if [ "$role" = relay ]; then
            uplink_args=(-netdev "user,id=wan,restrict=on,guestfwd=tcp:10.0.2.100:80-$fwd $(lab_get cloud_port),hostfwd=tcp:127.0.0.1:$(lab_get media_port)-:8443"
                         -device "virtio-net-pci,netdev=wan,mac=52:54:00:77:01:01")
        else
            uplink_args=(-netdev "user,id=cam,restrict=on,guestfwd=tcp:10.0.2.100:8554-$fwd $(lab_get camera_port)"
                         -device "virtio-net-pci,netdev=cam,mac=52:54:00:77:01:02")
        fi
    fi
    # 4 GiB more than the image, as on a real disk: first boot creates the empty A/B slot B (edge
    # 2 GiB + 64 MiB, relay 1 GiB + 64 MiB) and grows the root partition into the rest
    # (systemd-repart, /usr/lib/repart.d/).
    qemu-img create -q -f qcow2 -F raw -b "$work/$role.raw" "$disk" "$(( $(stat -c %s "$work/$role.raw") + 4294967296 ))"
    local netcred="$work/$role.network"
    printf '[Match]\nMACAddress=%s\n\n[Network]\nAddress=%s/24\n' "$mac" "$( [ "$role" = relay ] && echo 10.78.0.1 || echo 10.78.0.2)" >"$netcred"
    # /usr is the image's verity slot: the UKI's usrhash= and mount.usr* arguments select it (direct
    # kernel boot bypasses the UKI, so they are copied from its command line).
    local usr_args
    objcopy -O binary --only-section=.cmdline "$OUT/guardian-$role.efi" "$work/$role.cmdline"   # not a pipe: objcopy seeks
    usr_args="$(tr '\0 ' '\n\n' <"$work/$role.cmdline" | grep -E '^(usrhash|mount\.usr|panic=)' | tr '\n' ' ')"
    # Under TCG on a loaded 2-core machine (load average 10-15 from other suites), dm-verity setup of /usr
    # in the initrd outlasted systemd's default 90 s device timeout (emergency mode), and OS units such as
    # systemd-networkd their 90 s start timeout: wait longer. (The agents' units set their own timeouts.)
    # With a real cloud the edge detects for real: a second vCPU (its own TCG thread) keeps the recorder and
    # the uplink going while an inference takes minutes.
    local smp=1; [ -n "$lab" ] && [ "$role" = edge ] && smp=2
    local args=(
        -machine q35 -accel tcg -cpu max -smp "$smp" -m 2048 -nographic -no-reboot
        -kernel "$OUT/guardian-$role.vmlinuz" -initrd "$OUT/guardian-$role.initrd"
        -append "root=PARTLABEL=root-x86-64 rw $usr_args console=ttyS0,115200 systemd.wants=guardian-boot-check.service systemd.show_status=yes systemd.default_device_timeout_sec=600 systemd.default_timeout_start_sec=600 $extra"
        -drive "if=none,id=disk,file=$disk,format=qcow2" -device virtio-blk-pci,drive=disk
        -netdev "$netdev" -device "virtio-net-pci,netdev=lan,mac=$mac"
        "${uplink_args[@]}"
        -smbios "type=11,value=$(cred guardian.bootcheck "$(b64 "$ROOT/tests/images/boot-check.sh")")"
        -smbios "type=11,value=$(cred systemd.extra-unit.guardian-boot-check.service "$(b64 "$ROOT/tests/images/guardian-boot-check.service")")"
        -chardev "file,id=console,path=$LOGS/$role.console.log,append=on" -serial chardev:console
        -monitor none -display none
    )
    # The relay's LAN address as a systemd-networkd credential (an operator's static config). The edge
    # gets none: its static address comes from the personalised enrol.conf, applied by first boot,
    # which must not wait for DHCP (there is none on this LAN) before it runs.
    # With --image the edge's download has no address in it: it gets one the same way (the site's DHCP stand-in).
    { [ "$role" = relay ] || [ -n "$image" ]; } && args+=(-smbios "type=11,value=$(cred network.network.10-lan "$(b64 "$netcred")")")
    # Role-specific credentials prepared below (file name = credential name).
    for f in "$work/cred-$role"/*; do
        [ -e "$f" ] && args+=(-smbios "type=11,value=$(cred "${f##*/}" "$(b64 "$f")")")
    done
    date +%s.%N >"$work/$role.start"
    [ -z "$lab" ] || cp "$work/$role.start" "$lab/$role.start"
    rm -f "$LOGS/$role.console.log"
    run_vm "$LOGS/$role.console.log" "${args[@]}" </dev/null >"$LOGS/$role.qemu.log" 2>&1 &
    pids+=($!)
    echo $! >"$work/$role.pid"
}

for role in "${roles[@]}"; do
    if [ "$role" = edge ] && [ -n "$image" ]; then
        cp --sparse=always "$image" "$work/edge.raw"
    else
        cp --sparse=always "$OUT/guardian-$role.raw" "$work/$role.raw"
    fi
done
# Test material (tests/images/relay_material.py, shared with the nspawn boot): a CA and the relay's
# certificate (10.78.0.1), the "cloud" token key pair, the relay's signing key; relay.toml; one bootstrap
# token. Made with the project's own code in the project's venv.
mkdir -p "$work/cred-relay" "$work/cred-edge"
if [ -n "$lab" ] && [ -d "$lab/material" ]; then
    cp -r "$lab/material/." "$work/"
else
    (cd "$ROOT" && "${GUARDIAN_VENV:-$ROOT/.venv}/bin/python" -m tests.images.relay_material "$work" "$lab")
fi
if [ "$which" = both ]; then
    cp "$ROOT/tests/images/e2e-relay.sh" "$work/cred-relay/guardian.bootcheck.e2e"
    cp "$ROOT/tests/images/e2e-edge.sh" "$work/cred-edge/guardian.bootcheck.e2e"
    # Issue #19: operator SSH reaches the edge through its relay only. The edge trusts the operator's key from
    # its enrolment settings (GUARDIAN_OPERATOR_SSH_KEYS: the cloud's download carries the lab's key, cloudlab.py;
    # otherwise personalise-image.sh --operator-keys below); the relay's e2e step gets the private half (test
    # only) and logs in on the edge's tunnel address, then tries its LAN address.
    if [ -n "$lab" ] && [ -s "$lab/operator-key" ]; then
        cp "$lab/operator-key" "$lab/operator-key.pub" "$work/"
    else
        ssh-keygen -q -t ed25519 -N "" -C operator -f "$work/operator-key"
    fi
    cp "$work/operator-key" "$work/cred-relay/guardian.bootcheck.operator-key"
    if [ -n "$lab" ]; then
        mode=cloud; [ -n "$image" ] && mode=download
        echo "$mode" >"$work/cred-relay/guardian.bootcheck.mode"
        echo "$mode" >"$work/cred-edge/guardian.bootcheck.mode"
        # How long the end-to-end steps wait from boot (seconds). Under TCG every inference of the detector
        # is minutes of software floating point, so a run that waits for detection needs far more than 1500 s.
        if [ -n "${GUARDIAN_BOOT_E2E_WAIT:-}" ]; then
            echo "$GUARDIAN_BOOT_E2E_WAIT" >"$work/cred-relay/guardian.bootcheck.wait"
            echo "$GUARDIAN_BOOT_E2E_WAIT" >"$work/cred-edge/guardian.bootcheck.wait"
        fi
        # The camera NIC (MAC ...:01:02) takes an address from QEMU's DHCP and no default route; it
        # sorts before first boot's 10-guardian-static.network, which takes every other wired port.
        printf '[Match]\nMACAddress=52:54:00:77:01:02\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nUseGateway=no\n' \
            >"$work/edge-camera.network"
        cp "$work/edge-camera.network" "$work/cred-edge/network.network.05-camera"
    fi
fi
if [[ " ${roles[*]} " == *" edge "* ]] && [ -z "$image" ]; then
    # A tenant's personalised download: relay endpoint, one-time token, static address on the LAN.
    keys=(); [ -s "$work/operator-key.pub" ] && keys=(--operator-keys "$work/operator-key.pub")
    "$ROOT/scripts/personalise-image.sh" "$work/edge.raw" "$work/edge.personal.raw" \
        --relay 10.78.0.1:8443 --token-file "$work/token" --address 10.78.0.2/24 --relay-ca "$work/relay-ca.pem" \
        "${keys[@]}" >/dev/null
    mv "$work/edge.personal.raw" "$work/edge.raw"
fi
for role in "${roles[@]}"; do
    case "$role" in
        relay) boot relay 52:54:00:77:00:01 "socket,id=lan,listen=127.0.0.1:$port" "" ;;
        edge)  boot edge 52:54:00:77:00:02 "socket,id=lan,connect=127.0.0.1:$port" "" ;;
    esac
    [ "$role" = relay ] && sleep 1   # the listening side first
done

rc=0
declare -A ready_wall=()
deadline=$(( $(date +%s) + TIMEOUT ))
for role in "${roles[@]}"; do
    pid="$(cat "$work/$role.pid")"
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
        if [ -z "${ready_wall[$role]:-}" ] && grep -aq 'GUARDIAN-CHECK agents=' "$LOGS/$role.console.log" 2>/dev/null; then
            ready_wall[$role]=$(python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.1f}')" "$(date +%s.%N)" "$(cat "$work/$role.start")")
        fi
        sleep 1
    done
    kill "$pid" 2>/dev/null || true
done

cd "$ROOT"
summary="$LOGS/summary.json"
"${GUARDIAN_VENV:-$ROOT/.venv}/bin/python" - "$LOGS" "$summary" "${roles[@]}" <<PY || rc=1
import json, sys
from pathlib import Path
from tests.images.bootcheck import parse_report
logs, summary, roles = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
wall = {$(for r in "${roles[@]}"; do printf '"%s": %s, ' "$r" "${ready_wall[$r]:-None}"; done)}
result, ok = {}, True
for role in roles:
    rep = parse_report((logs / f"{role}.console.log").read_text(errors="replace"))
    agents_ready_s = max(rep.ready_us.values()) / 1e6 if rep.ready_us else None
    # Units gated by a condition (the archive without a key) are "skipped"; with both VMs the edge's
    # uplink must be up, and the end-to-end lines must show the enrolment and the event across.
    good = rep.finished and rep.end_rc == 0 and not rep.failed and bool(rep.units) \
        and all(s in ("active", "skipped") for s in rep.units.values())
    if len(roles) == 2:
        e2e = " ".join(rep.e2e)
        good &= ("acked=yes" in e2e) if role == "edge" else ("received=yes" in e2e)
        if role == "edge":
            good &= rep.units.get("guardian-edge-uplink.service") == "active"
    ok &= good
    result[role] = {
        "ok": good, "units": rep.units, "failed": rep.failed,
        "security": {u: {"exposure": e, "level": l} for u, (e, l) in rep.exposure.items()},
        "agents_ready_s_since_kernel": agents_ready_s, "check_seen_s_since_qemu_start": wall.get(role),
        "basic_target_s_since_kernel": rep.baseline_us["basic.target"] / 1e6 if "basic.target" in rep.baseline_us else None,
        "firstboot": rep.firstboot, "firstboot_status": rep.firstboot_status, "e2e": rep.e2e,
    }
    print(f"{role}: {'OK' if good else 'FAILED'} units={rep.units} failed={rep.failed} "
          f"agents_ready={agents_ready_s}s(kernel) check_seen={wall.get(role)}s(qemu start) firstboot={rep.firstboot}: {rep.firstboot_status}")
    for line in rep.e2e:
        print(f"  e2e {line}")
    for u, (e, l) in rep.exposure.items():
        print(f"  security {u}: {e} {l}")
    if not good:
        print(rep.tail(40))
summary.write_text(json.dumps(result, indent=2))
sys.exit(0 if ok else 1)
PY
echo "console logs and summary: $LOGS"
exit $rc
