"""Cloud host defaults; ``cloud_public_name`` is host data in the inventory."""

import os
from pathlib import Path

cloud_database = "guardian"
cloud_http_port = 8000
# Worker processes of the API (browsers, tools) on each cloud host; ~1 per core.
cloud_workers = 2
# Relay calls (ingest, revocations, enrolment) have their own process, port and a larger CPU share, so
# no browser load keeps events from reaching the cloud (nginx routes /api/v1/ingest and /api/v1/relay/).
cloud_relay_api_port = 8001
cloud_relay_api_cpu_weight = 400
cloud_nginx_package = "nginx-light"
# Local files (outside the repository) holding the secrets; unset: generated once on the host.
cloud_secret_key_file = os.environ.get("GUARDIAN_CLOUD_SECRET_KEY_FILE")
cloud_signing_key_file = os.environ.get("GUARDIAN_CLOUD_SIGNING_KEY_FILE")
# Local paths of the proxy's certificate and key; unset: self-signed on the host.
cloud_tls_cert = os.environ.get("GUARDIAN_CLOUD_TLS_CERT")
cloud_tls_key = os.environ.get("GUARDIAN_CLOUD_TLS_KEY")
cloud_prometheus_interval = "30s"
# The built web UI (local directory, `npm run build` in ui/ or scripts/setup.sh), uploaded to /opt/guardian/ui.
cloud_ui_dist = os.environ.get("GUARDIAN_UI_DIST", str(Path(__file__).resolve().parents[2] / "ui" / "dist"))
# Backups (tasks/cloud.py, ``backups``): pg_dump -Fc of the database and a copy of the secrets, root-only,
# by a systemd timer; the newest cloud_backup_keep of each are kept.
cloud_backup_dir = "/var/backups/guardian-cloud"
cloud_backup_keep = int(os.environ.get("GUARDIAN_CLOUD_BACKUP_KEEP", "14"))
cloud_backup_schedule = os.environ.get("GUARDIAN_CLOUD_BACKUP_SCHEDULE", "*-*-* 03:15:00")
# Restore: a local pg_dump -Fc file loaded into the database when this host creates it (a fresh host);
# give the backed-up keys with GUARDIAN_CLOUD_SECRET_KEY_FILE / …_SIGNING_KEY_FILE (docs/operations.md).
cloud_restore_dump = os.environ.get("GUARDIAN_CLOUD_RESTORE_DUMP")
# The first operator account, created once by the deploy: its e-mail, and a local file with its password
# (never logged, never left on the host); unset: `guardian-cloud create-admin` by hand (docs/operations.md).
cloud_admin_email = os.environ.get("GUARDIAN_CLOUD_ADMIN_EMAIL")
cloud_admin_password_file = os.environ.get("GUARDIAN_CLOUD_ADMIN_PASSWORD_FILE")
# The generic edge image that "Add a device" personalises per download ([edge_image], docs/operations.md
# "One edge"): a path on the cloud host, where the operator puts guardian-edge.raw (until it is there the
# download answers 503); "" turns the download off and the page shows the manual personalise-image.sh way.
cloud_edge_image_path = os.environ.get("GUARDIAN_CLOUD_EDGE_IMAGE_PATH", "/var/lib/guardian-cloud/guardian-edge.raw")
# PEM on the cloud host of the private CA that signed the relays' certificates; unset with public ones.
cloud_edge_image_relay_ca_file = os.environ.get("GUARDIAN_CLOUD_EDGE_IMAGE_RELAY_CA_FILE")
# An authorized_keys file on the cloud host: the operators' SSH public keys every downloaded edge image carries
# (first boot installs them; the edge answers SSH on its tunnel only, for image updates, #19); unset: none.
cloud_edge_image_operator_keys_file = os.environ.get("GUARDIAN_CLOUD_EDGE_IMAGE_OPERATOR_KEYS_FILE")
# The Alertmanager the fleet page reads ([alertmanager] url): the one Prometheus sends its alerts to
# (templates/prometheus.yml.j2, Debian's prometheus-alertmanager); "" leaves the page without alerts.
cloud_alertmanager_url = os.environ.get("GUARDIAN_CLOUD_ALERTMANAGER_URL", "http://127.0.0.1:9093")
# Logs (#23, tasks/journal.py): the relays' addresses (CIDRs, comma separated) allowed to upload their journals
# to systemd-journal-remote on this host (HTTPS, port 19532); empty: no journal-remote here.
operator_journal_sources = [n for n in os.environ.get("GUARDIAN_OPERATOR_JOURNAL_SOURCES", "").split(",") if n]
