#!/usr/bin/env bash
# Personalise a copy of the generic edge image for one tenant's device, without rebuilding it:
# writes guardian/enrol.conf into the image's ESP (FAT): into its fixed-size enrolment slot in place
# when the image has one (the cloud's download does the same), else with mtools at the partition's
# byte offset (read from the GPT with sfdisk). No loop devices, no mounting, no root needed.
#
#   scripts/personalise-image.sh GENERIC.raw OUT.raw --relay HOST:PORT --token-file FILE \
#       [--address CIDR --gateway IP --dns IP] [--relay-ca CA.pem] [--operator-keys AUTHORIZED_KEYS]
#   scripts/personalise-image.sh GENERIC.raw OUT.raw --config enrol.conf [--operator-keys AUTHORIZED_KEYS]
#
# --relay-ca: the CA of the relay's enrolment certificate when it is private (self-signed); it goes
# into enrol.conf as GUARDIAN_RELAY_CA (base64 of the PEM) and first boot installs it.
# --operator-keys: the operator's SSH public keys (an authorized_keys file), as GUARDIAN_OPERATOR_SSH_KEYS;
# first boot installs them for root, and sshd answers on the edge's tunnel only (updates by pyinfra, #19).
# The bootstrap token is read from a file (or - for stdin), never from the command line. OUT is a
# sparse copy (cp --sparse=always); GENERIC is not modified. Exit 64 on bad usage, 65 on bad data.
set -euo pipefail

die() { echo "personalise-image: $1" >&2; exit "${2:-65}"; }
[ $# -ge 2 ] || die "usage: $0 GENERIC.raw OUT.raw (--config FILE | --relay HOST:PORT --token-file FILE [--address CIDR] [--gateway IP] [--dns IP] [--relay-ca CA.pem]) [--operator-keys FILE]" 64
generic="$1"; out="$2"; shift 2
config="" relay="" token_file="" address="" gateway="" dns="" relay_ca="" operator_keys=""
while [ $# -gt 0 ]; do
    case "$1" in
        --config) config="$2"; shift ;;
        --relay) relay="$2"; shift ;;
        --token-file) token_file="$2"; shift ;;
        --address) address="$2"; shift ;;
        --gateway) gateway="$2"; shift ;;
        --dns) dns="$2"; shift ;;
        --relay-ca) relay_ca="$2"; shift ;;
        --operator-keys) operator_keys="$2"; shift ;;
        *) die "unknown option $1" 64 ;;
    esac
    shift
done
[ -f "$generic" ] || die "no such image: $generic" 66
for tool in sfdisk mcopy mmd; do command -v "$tool" >/dev/null || die "$tool is missing (apt-get install fdisk mtools)" 69; done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
conf="$tmp/enrol.conf"
slot_tool="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/guardian/contracts/enrol_slot.py"
# enrol.conf by the renderer the cloud's download uses (guardian/contracts/enrol_slot.py, the host's
# python3, standard library only): one renderer, so both give the same bytes.
render=(conf)
if [ -n "$config" ]; then
    render+=("--config=$config")
else
    [ -n "$relay" ] && [ -n "$token_file" ] || die "need --config, or --relay and --token-file" 64
    render+=("--relay=$relay" "--token-file=$token_file" "--address=$address" "--gateway=$gateway" "--dns=$dns")
fi
[ -z "$relay_ca" ] || render+=("--relay-ca=$relay_ca")
[ -z "$operator_keys" ] || render+=("--operator-keys=$operator_keys")
python3 "$slot_tool" "${render[@]}" >"$conf" || die "no enrolment settings written (see above)"
grep -q '^GUARDIAN_RELAY_ENDPOINT=.' "$conf" && grep -q '^GUARDIAN_BOOTSTRAP_TOKEN=.' "$conf" \
    || die "the config needs GUARDIAN_RELAY_ENDPOINT and GUARDIAN_BOOTSTRAP_TOKEN"

# Images with an enrolment slot (a fixed-size guardian/enrol.conf, guardian/contracts/enrol_slot.py):
# overwrite the slot's bytes in place, so the FAT stays as built and the result is byte for byte what
# the cloud's personalised download streams. Older images: mtools below.
if python3 "$slot_tool" locate "$generic" >/dev/null 2>&1; then
    partial="$out.partial"
    cp --sparse=always "$generic" "$partial"
    python3 "$slot_tool" write "$partial" "$conf" || { rm -f "$partial"; die "could not write the enrolment slot of $out"; }
    mv "$partial" "$out"
    echo "personalised: $out (enrolment slot guardian/enrol.conf, written in place)"
    exit 0
fi

# The ESP's offset from the GPT (type C12A7328-F81F-11D2-BA4B-00A0C93EC93B).
offset="$(sfdisk --json "$generic" | python3 -c '
import json, sys
t = json.load(sys.stdin)["partitiontable"]
esp = [p for p in t["partitions"] if p["type"].upper() == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"]
if not esp: sys.exit("no ESP in the partition table")
print(esp[0]["start"] * t.get("sectorsize", 512))
')" || die "$generic has no ESP: is it the edge disk image?"

partial="$out.partial"
cp --sparse=always "$generic" "$partial"
export MTOOLS_SKIP_CHECK=1
mmd -i "$partial@@$offset" ::/guardian 2>/dev/null || true
mcopy -o -i "$partial@@$offset" "$conf" ::/guardian/enrol.conf
mv "$partial" "$out"
echo "personalised: $out (ESP at byte $offset, guardian/enrol.conf)"
