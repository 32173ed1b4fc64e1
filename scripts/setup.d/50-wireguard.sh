# WireGuard for the edge <-> relay tunnel: wireguard-go (user space; the kernel module is used instead
# where present), wg, ip/tc (netns, veth, netem in the tests).
step "wireguard"
apt_install wireguard-go wireguard-tools iproute2
