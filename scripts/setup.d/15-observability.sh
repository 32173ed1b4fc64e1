# Prometheus: the metrics tests scrape the agents with a real server (started by the tests).
step "prometheus"
apt_install prometheus
# Debian's package enables a service; tests run their own instance on a free port.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
