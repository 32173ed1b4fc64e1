# Live view (#18): coturn, the relay's TURN server (the only path between browser and edge); the live
# tests start their own coturn process with a minted shared secret, so the Debian service stays disabled.
step "live view: coturn"
apt_install coturn
