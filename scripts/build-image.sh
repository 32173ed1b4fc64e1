#!/usr/bin/env bash
# Build an appliance image with mkosi 25.x (fetched by scripts/mkosi.sh, nothing installed on the host).
#
#   scripts/build-image.sh edge|relay [--format=disk|directory] [--cold] [-- extra mkosi args]
#
#   edge   bootable UEFI disk (systemd-boot + UKI)   → $OUT/guardian-edge.raw (+ .vmlinuz .initrd .efi)
#   relay  KVM disk, raw and qcow2                  → $OUT/guardian-relay.raw, guardian-relay.qcow2
#   --format=directory  a directory tree (no kernel) for the fast systemd-nspawn check
#                                                   → $OUT/guardian-ROLE-dir/
#   --cold  drop this variant's incremental cache first (for measuring cold builds)
#
# Releases: GUARDIAN_IMAGE_VERSION overrides the profile's ImageVersion (A/B slots and UKIs are named by
# it); GUARDIAN_UPDATE_PUBRING (a gpg public keyring) is installed as the key systemd-sysupdate trusts
# for updates (/usr/lib/systemd/import-pubring.gpg); without it the image accepts no update.
#
# $OUT is $CACHE/images/out (override with GUARDIAN_IMAGES_OUT). The Python side of the image is
# installed from a cp313 wheelhouse filled here on the host with pyenv's Python 3.13 (the image runs
# trixie's 3.13; wheels are resolved for it, sdist-only dependencies are built to wheels here), so
# the mkosi build needs no PyPI access; the project's own wheel is rebuilt from the working tree on
# every build. Second builds reuse mkosi's incremental cache (packages + venv) and the wheelhouse.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GUARDIAN_CACHE:-$HOME/.cache/guardian}"
IMAGES="$CACHE/images"
OUT="${GUARDIAN_IMAGES_OUT:-$IMAGES/out}"

role="${1:-}"
shift || true
case "$role" in edge|relay) ;; *) echo "usage: $0 edge|relay [--format=disk|directory] [--cold] [-- mkosi args]" >&2; exit 64 ;; esac
format=disk
cold=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --format=*) format="${1#--format=}" ;;
        --cold) cold=1 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "unknown option: $1" >&2; exit 64 ;;
    esac
    shift
done
case "$format" in disk) name="guardian-$role" ;; directory) name="guardian-$role-dir" ;; *) echo "bad format: $format" >&2; exit 64 ;; esac
variant="$role-$format"

start=$(date +%s)
log() { printf '==> [%s +%ss] %s\n' "$variant" "$(( $(date +%s) - start ))" "$*"; }

# ---- Python 3.13 for resolving the image's wheels -----------------------------------------------
PY313="${GUARDIAN_PY313:-}"
if [ -z "$PY313" ]; then
    # pyenv's shims exist even where the version is not selected: check that the candidate runs.
    for candidate in "$(ls -d "$HOME"/.pyenv/versions/3.13*/bin/python3 2>/dev/null | tail -n1)" /usr/bin/python3.13 python3.13; do
        if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
            PY313="$(command -v "$candidate")"; break
        fi
    done
fi
[ -n "$PY313" ] || { echo "need a Python 3.13 (set GUARDIAN_PY313) to resolve the image's cp313 wheels" >&2; exit 69; }

# ---- wheelhouse: dependencies (cached by a stamp of the requirements) + the project's wheel ---------
wheelhouse="$IMAGES/wheelhouse/$role"
mkdir -p "$wheelhouse/deps" "$wheelhouse/project" "$wheelhouse/model"
# What the role installs besides its extra: the edge runs OpenVINO (pip: the runtime with CPU/GPU/NPU plugins).
case "$role" in edge) role_pkgs=("openvino") ;; relay) role_pkgs=() ;; esac

src="$(mktemp -d)"
trap 'rm -rf "$src"' EXIT
# The working tree as git sees it (tracked + untracked, minus ignored): what the wheel is built from.
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r tar -cf - --ignore-failed-read 2>/dev/null) | tar -xf - -C "$src"

stamp="$( { "$PY313" -c 'import sys,tomllib; d=tomllib.load(open(sys.argv[1],"rb"))["project"]; print(d["dependencies"], d["optional-dependencies"].get(sys.argv[2]))' "$src/pyproject.toml" "$role"; echo "${role_pkgs[*]-}"; } | sha256sum | cut -c1-16)"
if [ "$(cat "$wheelhouse/deps.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "resolving cp313 wheels for .[$role] ${role_pkgs[*]-}"
    rm -rf "$wheelhouse/deps" && mkdir -p "$wheelhouse/deps"
    "$PY313" -m pip wheel --quiet --disable-pip-version-check --prefer-binary \
        --wheel-dir "$wheelhouse/deps" "$src[$role]" ${role_pkgs[@]+"${role_pkgs[@]}"}
    rm -f "$wheelhouse"/deps/private_ai_guardian-*.whl
    # Pin exactly what was resolved; the image installs these and nothing else.
    (cd "$wheelhouse/deps" && for w in *.whl; do n="${w%%-*}"; v="${w#*-}"; v="${v%%-*}"; echo "${n//_/-}==$v"; done) \
        | sort >"$wheelhouse/requirements.txt"
    echo "$stamp" >"$wheelhouse/deps.stamp"
fi
log "building the project wheel from the working tree"
rm -f "$wheelhouse"/project/*.whl
# No build isolation: setuptools from the project's venv (no PyPI round trip on every build).
"$ROOT/.venv/bin/pip" wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    --wheel-dir "$wheelhouse/project" "$src" 2>&1 | grep -v "^WARNING: Location" || true
ls "$wheelhouse"/project/*.whl >/dev/null || { echo "building the project wheel failed" >&2; exit 1; }

# The converted detection model (edge), so the image works offline on first boot.
rm -rf "${wheelhouse:?}/model" && mkdir -p "$wheelhouse/model"
if [ "$role" = edge ]; then
    # The detector's model store as the detection set-up left it (<name>/<version>/model.xml|bin,
    # labels.txt, manifest.json, active.json): IR only, no download caches.
    model_src="${GUARDIAN_MODEL_DIR:-$CACHE/models}"
    if [ -f "$model_src/active.json" ]; then
        (cd "$model_src" && find . -maxdepth 3 \( -name 'model.xml' -o -name 'model.bin' -o -name 'labels.txt' \
            -o -name 'manifest.json' -o -name 'active.json' \) -print0 | cpio -0 -pdm --quiet "$wheelhouse/model")
    fi
    log "model files: $(find "$wheelhouse/model" -type f | wc -l)"
fi

# The release key updates are checked against (scripts/release-image.sh signs with its private half).
rm -f "$wheelhouse/update-pubring.gpg"
if [ -n "${GUARDIAN_UPDATE_PUBRING:-}" ]; then
    cp "$GUARDIAN_UPDATE_PUBRING" "$wheelhouse/update-pubring.gpg"
fi
version_args=()
[ -n "${GUARDIAN_IMAGE_VERSION:-}" ] && version_args=("--image-version=$GUARDIAN_IMAGE_VERSION")

# ---- one incremental cache per variant ----------------------------------------------------------
# mkosi keys its cache by distribution~release~arch only, so edge and relay (disk and directory)
# would evict each other. The shared cache dir keeps the tools tree and the default initrd; this
# variant's own entries are swapped in and out of $IMAGES/cache-stash/<variant>.
cachedir="$IMAGES/cache"
stash="$IMAGES/cache-stash"
mkdir -p "$cachedir" "$stash" "$OUT" "$IMAGES/packages"
key="debian~trixie~x86-64"
owner="$(cat "$cachedir/.owner" 2>/dev/null || true)"
if [ -n "$owner" ] && [ "$owner" != "$variant" ]; then
    rm -rf "${stash:?}/$owner" && mkdir -p "$stash/$owner"
    for f in "$cachedir/$key".cache "$cachedir/$key".build.cache "$cachedir/$key".manifest; do
        [ -e "$f" ] && mv "$f" "$stash/$owner/"
    done
fi
if [ "$owner" != "$variant" ] && [ -d "$stash/$variant" ]; then
    for f in "$stash/$variant"/*; do [ -e "$f" ] && mv "$f" "$cachedir/"; done
fi
echo "$variant" >"$cachedir/.owner"
# The venv lives in the cache (installed by mkosi.prepare.chroot): new dependencies → new cache.
if [ -n "$cold" ] || [ "$(cat "$cachedir/.deps-$variant" 2>/dev/null)" != "$stamp" ]; then
    [ -n "$cold" ] && log "--cold: dropping the cached image"
    rm -rf "$cachedir/$key".cache "$cachedir/$key".build.cache "$cachedir/$key".manifest
fi

# Split partitions are named by their UUID (derived from the verity root hash): drop the previous
# build's, so that $OUT holds exactly this version's update files (scripts/release-image.sh).
rm -f "$OUT/$name".usr-*.raw "$OUT/$name".usr-*.qcow2
log "mkosi build ($format)"
"$ROOT/scripts/mkosi.sh" \
    --profile="$role" \
    --format="$format" \
    --output="$name" \
    --output-directory="$OUT" \
    --cache-directory="$cachedir" \
    --package-cache-directory="$IMAGES/packages" \
    --build-sources="$ROOT,$wheelhouse:wheelhouse" \
    --build-sources-ephemeral=yes \
    --incremental=yes \
    --force \
    ${version_args[@]+"${version_args[@]}"} \
    ${extra[@]+"${extra[@]}"} \
    build
echo "$stamp" >"$cachedir/.deps-$variant"

elapsed=$(( $(date +%s) - start ))
if [ "$format" = disk ]; then
    apparent=$(stat -c %s "$OUT/$name.raw")
    used=$(du -B1 "$OUT/$name.raw" | cut -f1)
    log "done in ${elapsed}s: $OUT/$name.raw apparent=$((apparent / 1048576))MiB allocated=$((used / 1048576))MiB"
    [ -f "$OUT/$name.qcow2" ] && log "qcow2: $OUT/$name.qcow2 $(( $(stat -c %s "$OUT/$name.qcow2") / 1048576 ))MiB"
else
    log "done in ${elapsed}s: $OUT/$name ($(du -sm "$OUT/$name" | cut -f1)MiB)"
fi
printf '{"variant":"%s","seconds":%s}\n' "$variant" "$elapsed" >"$OUT/$name.build-time.json"
