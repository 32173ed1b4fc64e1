"""Cloud host defaults; ``cloud_public_name`` is host data in the inventory."""

import os

cloud_database = "guardian"
cloud_http_port = 8000
cloud_nginx_package = "nginx-light"
# Local files (outside the repository) holding the secrets; unset: generated once on the host.
cloud_secret_key_file = os.environ.get("GUARDIAN_CLOUD_SECRET_KEY_FILE")
cloud_signing_key_file = os.environ.get("GUARDIAN_CLOUD_SIGNING_KEY_FILE")
# Local paths of the proxy's certificate and key; unset: self-signed on the host.
cloud_tls_cert = os.environ.get("GUARDIAN_CLOUD_TLS_CERT")
cloud_tls_key = os.environ.get("GUARDIAN_CLOUD_TLS_KEY")
cloud_prometheus_interval = "30s"
