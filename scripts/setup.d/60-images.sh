# Images: what building and boot-testing the appliance images needs on the host.
# mkosi itself is not installed: scripts/mkosi.sh fetches mkosi 25.x from trixie into $CACHE/mkosi.
step "image tools (nspawn, qemu, ovmf, swtpm (the edge's TPM2 under QEMU), mtools; xz and bsdcat check the .img.xz download; gpg signs releases and systemd-pull checks them)"
apt_install systemd-container qemu-system-x86 qemu-utils ovmf swtpm mtools dosfstools fdisk gpg \
    debian-archive-keyring zstd cpio xz-utils libarchive-tools
"$ROOT/scripts/mkosi.sh" --fetch-only
