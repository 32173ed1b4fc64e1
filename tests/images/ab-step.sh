#!/bin/bash
# Runs inside a booted appliance image under QEMU for the A/B update test (tests/images/test_ab_update.py),
# delivered as the credential guardian.abstep with its unit (guardian-ab-step.service), on every boot:
#   - reports the boot (the test checks version, data, health, blessing) and the slots;
#   - first boot only: seeds data on /var; with the credential guardian.abstep.refusals (the relay's run:
#     "NAME=ADDRESS ..."), then tries each bad update source itself (reached as "guardian-updates" through
#     /etc/hosts: HTTP servers of the test on the lab LAN, e.g. a bad signature, a tampered /usr file), and
#     then drops that name again: the rollout points it at the real update mirror;
#   - says "operator-ready": the updates themselves come from the operator's pyinfra over SSH
#     (provisioning/rollout.py), and the test powers the box off over SSH. The edge's run
#     (test_edge_ab_update.py) needs no refusals: the edge fetches from its relay's mirror, with the same
#     transfers and checks.
# Every boot prints one line "GUARDIAN-AB boot ..." and the results as "GUARDIAN-AB key=value ...".
set -u
# The UKI names tty0 last (the console a Mini PC shows), so /dev/console is not the serial port.
out=/dev/ttyS0
say() { echo "GUARDIAN-AB $*" >"$out"; }
state=/var/lib/guardian-ab-test
mkdir -p "$state"

. /usr/lib/os-release
version="$IMAGE_VERSION"
efivar() { cat "/sys/firmware/efi/efivars/$1-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f" 2>/dev/null | tail -c +5 | tr -d "\0"; }
esp="$(bootctl --print-esp-path 2>/dev/null || echo /efi)"
disk="$(lsblk -nrpo PKNAME "$(findmnt -nvo SOURCE /)")"
# Labels read from the partition table itself: lsblk answers from udev's database, which may not have
# seen the relabelling sysupdate has just written (the A/B test once read the old labels that way).
slots() { partx -g -o NAME "$disk" | grep -E '^(guardian-|_empty)' | sort | tr '\n' ',' ; }
ukis() { ls "$esp/EFI/Linux" 2>/dev/null | sort | tr '\n' ','; }
healthy_unit="$(systemctl list-unit-files --no-legend 'guardian-*-healthy.service' | awk '{print $1; exit}')"

boots=$(( $(cat "$state/boots" 2>/dev/null || echo 0) + 1 ))
echo "$boots" >"$state/boots"
ready_us="$(systemctl show -P ActiveEnterTimestampMonotonic "$healthy_unit")"
say "boot n=$boots version=$version entry=$(efivar LoaderEntrySelected) $(grep -o "usrhash=[0-9a-f]\{12\}" /proc/cmdline) usr=$(findmnt -nvo SOURCE,FSTYPE /usr | tr ' ' :) panic=$(cat /proc/sys/kernel/panic)" \
    "health=$(systemctl is-active "$healthy_unit") boot_complete=$(systemctl is-active boot-complete.target)" \
    "blessed=$(/usr/lib/systemd/systemd-bless-boot status 2>/dev/null || echo n/a) healthy_us=$ready_us" \
    "wall=$(date +%s.%N) marker=$(cat "$state/marker" 2>/dev/null || echo none)"
say "layout slots=$(slots) ukis=$(ukis)"
if grep -q '^guardian-data ' /etc/crypttab 2>/dev/null; then  # the edge's data partition (docs/images.md)
    say "data mount=$(findmnt -nvo SOURCE,FSTYPE /var/lib/private/guardian-edge | tr ' ' :)" \
        "keyslots=$(systemd-cryptenroll /dev/disk/by-partlabel/guardian-data 2>/dev/null | awk 'NR>1{print $2}' | sort | tr '\n' ,)" \
        "keyfile=$([ -e /etc/guardian/data-partition.key ] && echo yes || echo no)" \
        "tpm2=$(systemd-analyze has-tpm2 --quiet && echo yes || echo no)" \
        "size_mb=$(( $(lsblk -bndo SIZE /dev/disk/by-partlabel/guardian-data 2>/dev/null || echo 0) / 1048576 ))"
fi

point_updates_at() {  # point_updates_at IP: "guardian-updates" resolves to IP (/etc/hosts)
    sed -i '/ guardian-updates$/d' /etc/hosts
    echo "$1 guardian-updates" >>/etc/hosts
}

update() {  # update NAME IP: one systemd-sysupdate run against the source at IP
    local name="$1" ip="$2"
    point_updates_at "$ip"
    local t0 t1 rc
    t0="$(date +%s.%N)"
    /usr/lib/systemd/systemd-sysupdate update >"$state/update-$name.log" 2>&1
    rc=$?
    t1="$(date +%s.%N)"
    say "update source=$name rc=$rc seconds=$(python3 -c "print(round($t1 - $t0, 1))")" \
        "slots=$(slots) ukis=$(ukis)"
    tail -n 5 "$state/update-$name.log" | sed 's/^/GUARDIAN-AB log /' >"$out"
    return $rc
}

if [ ! -e "$state/marker" ]; then
    head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/marker"
    say "seeded marker=$(cat "$state/marker")"
    refusals="${CREDENTIALS_DIRECTORY:-/nonexistent}/guardian.abstep.refusals"
    if [ -s "$refusals" ]; then
        for source in $(cat "$refusals"); do
            update "${source%%=*}" "${source#*=}"
        done
        sed -i '/ guardian-updates$/d' /etc/hosts
    fi
fi
say "operator-ready version=$version"
