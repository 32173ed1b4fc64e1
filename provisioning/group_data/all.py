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
