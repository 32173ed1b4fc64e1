# Every role's dependencies as locked: requirements/dev.txt (all extras, written by scripts/lock.sh) pins
# each package with the sha256 of its files, and pip refuses a file whose hash differs. Then the project
# itself, editable, with nothing more resolved. tests/test_locks.py fails while a lock disagrees with
# pyproject.toml.
step "python packages (requirements/dev.txt: edge, relay, cloud, provisioning, dev; hash-checked)"
pip_install --require-hashes -r "$ROOT/requirements/dev.txt"
pip_install --no-deps -e "$ROOT"
