# Home Assistant on the LAN (#20): the MQTT tests start their own Mosquitto (a temporary config, a free
# port, a password file), so the Debian service stays disabled; mosquitto_passwd comes with it.
step "mqtt: mosquitto"
apt_install mosquitto
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
