#!/usr/bin/env bash
# Publish an appliance image's update files, the way systemd-sysupdate fetches them (docs/images.md
# "Updates"): the /usr and verity partitions and the UKI of the built version, SHA256SUMS over every
# file in the release directory and its detached gpg signature SHA256SUMS.gpg.
#
#   scripts/release-image.sh edge|relay DEST [--gpg-home DIR] [--key KEYID]
#
# Takes the last build of the role from $OUT (scripts/build-image.sh; the version is the image's
# ImageVersion, GUARDIAN_IMAGE_VERSION at build time) and adds it to DEST/guardian-ROLE/, next to the
# versions already published there (sysupdate picks the newest; a box keeps two slots):
#
#   guardian-ROLE_VERSION_x86-64.usr-x86-64.UUID.raw           /usr (erofs), written to the free slot
#   guardian-ROLE_VERSION_x86-64.usr-x86-64-verity.UUID.raw    its dm-verity hash tree
#   guardian-ROLE_VERSION_x86-64.efi                           the UKI (usrhash= of that /usr)
#   SHA256SUMS, SHA256SUMS.gpg
#
# Serve DEST over HTTP(S) as the relays' [updates] origin: each relay's mirror serves and caches the files
# for its edges at http://guardian-updates:8480/ (the transfers in /usr/lib/sysupdate.d). The
# signing key is the release key whose public half the images were built with
# (GUARDIAN_UPDATE_PUBRING); --gpg-home/--key pick it (default: gpg's own home and default key).
# Prints one JSON line with the version and the file sizes.
set -euo pipefail

CACHE="${GUARDIAN_CACHE:-$HOME/.cache/guardian}"
OUT="${GUARDIAN_IMAGES_OUT:-$CACHE/images/out}"

role="${1:-}"; dest="${2:-}"
case "$role" in edge|relay) ;; *) echo "usage: $0 edge|relay DEST [--gpg-home DIR] [--key KEYID]" >&2; exit 64 ;; esac
[ -n "$dest" ] || { echo "usage: $0 edge|relay DEST [--gpg-home DIR] [--key KEYID]" >&2; exit 64; }
shift 2
gpg_args=(--batch --yes)
while [ $# -gt 0 ]; do
    case "$1" in
        --gpg-home) gpg_args+=(--homedir "$2"); shift ;;
        --key) gpg_args+=(--local-user "$2"); shift ;;
        *) echo "unknown option: $1" >&2; exit 64 ;;
    esac
    shift
done

image_id="guardian-$role"
arch=x86-64
# The version the UKI was built as: os-release inside the UKI (its .osrel section) is what the
# running system reports as IMAGE_VERSION, so it is what the file names must carry.
osrel="$(mktemp)"
trap 'rm -f "$osrel"' EXIT
objcopy -O binary --only-section=.osrel "$OUT/$image_id.efi" "$osrel"
version="$(sed -n 's/^IMAGE_VERSION=//p' "$osrel" | tr -d '"')"
[ -n "$version" ] || { echo "no IMAGE_VERSION in $OUT/$image_id.efi" >&2; exit 65; }

one() {  # the single build artifact matching a glob
    local matches=("$OUT"/$1)
    [ ${#matches[@]} -eq 1 ] && [ -e "${matches[0]}" ] || { echo "expected one $1 in $OUT, found: ${matches[*]}" >&2; exit 66; }
    echo "${matches[0]}"
}
usr="$(one "$image_id.usr-$arch.*.raw")"
verity="$(one "$image_id.usr-$arch-verity.*.raw")"
usr_uuid="${usr#"$OUT/$image_id.usr-$arch."}"; usr_uuid="${usr_uuid%.raw}"
verity_uuid="${verity#"$OUT/$image_id.usr-$arch-verity."}"; verity_uuid="${verity_uuid%.raw}"

dir="$dest/$image_id"
mkdir -p "$dir"
prefix="${image_id}_${version}_${arch}"
cp --sparse=always "$usr" "$dir/$prefix.usr-$arch.$usr_uuid.raw"
cp --sparse=always "$verity" "$dir/$prefix.usr-$arch-verity.$verity_uuid.raw"
cp "$OUT/$image_id.efi" "$dir/$prefix.efi"

# SHA256SUMS lists every release in the directory (sysupdate lists the available versions from it).
(cd "$dir" && find . -maxdepth 1 -type f \( -name '*.raw' -o -name '*.efi' \) -printf '%f\n' | LC_ALL=C sort \
    | xargs -r sha256sum >SHA256SUMS.new && mv SHA256SUMS.new SHA256SUMS)
gpg "${gpg_args[@]}" --output "$dir/SHA256SUMS.gpg" --detach-sign "$dir/SHA256SUMS"
gpg "${gpg_args[@]}" --verify "$dir/SHA256SUMS.gpg" "$dir/SHA256SUMS" 2>/dev/null \
    || { echo "the signature just made does not verify" >&2; exit 70; }

size() { stat -c %s "$1"; }
zsize() { zstd -q -c -T0 -3 "$1" | wc -c; }
printf '{"image":"%s","version":"%s","dir":"%s","usr_bytes":%s,"usr_zstd_bytes":%s,"verity_bytes":%s,"verity_zstd_bytes":%s,"uki_bytes":%s}\n' \
    "$image_id" "$version" "$dir" \
    "$(size "$dir/$prefix.usr-$arch.$usr_uuid.raw")" "$(zsize "$dir/$prefix.usr-$arch.$usr_uuid.raw")" \
    "$(size "$dir/$prefix.usr-$arch-verity.$verity_uuid.raw")" "$(zsize "$dir/$prefix.usr-$arch-verity.$verity_uuid.raw")" \
    "$(size "$dir/$prefix.efi")"
