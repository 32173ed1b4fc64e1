"""Cloud host defaults; ``cloud_public_name`` is host data in the inventory."""

import os

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
