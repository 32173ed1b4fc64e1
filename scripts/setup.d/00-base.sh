# Base: Python 3.11 with venv, build tools for wheels that compile, git.
step "base packages"
apt_install ca-certificates curl git build-essential python3 python3-venv python3-dev
PY="${GUARDIAN_PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    step "creating venv at $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
fi
