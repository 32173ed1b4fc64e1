"""Defaults for every host. Nothing secret here: secrets come from the environment or from files
outside the repository (see README.md, "Variables")."""

import os

# The pinned release: provisioning/release.py builds guardian-<version>-<extra>.tar into this directory.
guardian_version = os.environ.get("GUARDIAN_VERSION", "0.1.0")
guardian_releases_dir = os.environ.get("GUARDIAN_RELEASES", "~/guardian-releases")
# apt-get update before installing (off where the targets have no archive access, e.g. the lab).
apt_update = os.environ.get("GUARDIAN_APT_UPDATE", "1") == "1"
# Networks allowed to reach SSH on relays (nftables). Keep the operator's own address in it.
admin_networks = [n for n in os.environ.get("GUARDIAN_ADMIN_NETWORKS", "").split(",") if n]
# The cloud's token public keys (base64url, comma separated; GET /api/v1/keys on the cloud).
cloud_token_public_keys = [k for k in os.environ.get("GUARDIAN_CLOUD_TOKEN_KEYS", "").split(",") if k]
cloud_url = os.environ.get("GUARDIAN_CLOUD_URL", "")
# Local path of the CA (PEM) that signed the cloud's certificate, for relays (unset: the system CAs).
cloud_ca_file = os.environ.get("GUARDIAN_CLOUD_CA_FILE")
# TLS for the cloud's proxy and the relays: "acme" (certbot from Debian gets a certificate for the public
# name by http-01 and certbot.timer renews it) or "lab" (the operator's files, else self-signed: a private
# CA, for labs only; tasks/tls.py).
tls_mode = os.environ.get("GUARDIAN_TLS_MODE", "acme")
acme_server = os.environ.get("GUARDIAN_ACME_SERVER", "https://acme-v02.api.letsencrypt.org/directory")
acme_email = os.environ.get("GUARDIAN_ACME_EMAIL", "")
# Local path of the CA (PEM) that signed the ACME server's own HTTPS certificate: a test server only
# (Pebble in tests/provisioning); unset: the system CAs.
acme_ca_file = os.environ.get("GUARDIAN_ACME_CA_FILE")
# Image updates (tasks/image_update.py, issue #19): seconds from the reboot into a new image version until the
# box has settled on one (the new version marked good, or the previous one again after its tries; under
# emulation a rollback of three tries took ~14 min).
image_boot_timeout = int(os.environ.get("GUARDIAN_IMAGE_BOOT_TIMEOUT", "1200"))
