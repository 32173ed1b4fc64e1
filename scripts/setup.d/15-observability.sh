# Prometheus: the metrics tests scrape the agents with a real server (started by the tests); promtool (in
# the same package) checks and unit-tests the alert rules (observability/rules/); Alertmanager routes a
# real alert to a webhook in tests/observability.
step "prometheus, promtool, alertmanager"
apt_install prometheus prometheus-alertmanager
# Fleet metrics and logs through the relays (tests/observability/test_fleet_*.py, bench/fleet_tunnel_bytes.py):
# the node exporter the appliances run, and journald's upload/remote pair.
step "prometheus-node-exporter, systemd-journal-remote"
apt_install prometheus-node-exporter systemd-journal-remote
# Debian's packages enable services; tests run their own instances on free ports.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
    $SUDO systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
    $SUDO systemctl disable --now prometheus-node-exporter >/dev/null 2>&1 || true
    $SUDO systemctl disable --now systemd-journal-remote.socket systemd-journal-upload >/dev/null 2>&1 || true
fi
