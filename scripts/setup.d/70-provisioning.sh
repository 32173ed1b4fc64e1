# Provisioning (pyinfra) and its real test targets: debootstrap builds the Debian tree, systemd-nspawn
# boots it in a network namespace, ssh reaches it. pyinfra itself comes with the `provisioning` extra.
step "provisioning (debootstrap, systemd-nspawn, pyinfra)"
apt_install debootstrap systemd-container openssh-client iproute2 nftables
pip_install -e "$ROOT[provisioning]"
