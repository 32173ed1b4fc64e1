# Provisioning (pyinfra) and its real test targets: debootstrap builds the Debian tree, systemd-nspawn
# boots it in a network namespace, ssh reaches it. pyinfra itself comes with the `provisioning` extra.
step "provisioning (debootstrap, systemd-nspawn, pyinfra)"
apt_install debootstrap systemd-container openssh-client iproute2 nftables
# Pebble: the ACME test server the provisioning tests issue the cloud's and the relay's certificates from.
apt_install pebble
pip_install -e "$ROOT[provisioning]"
