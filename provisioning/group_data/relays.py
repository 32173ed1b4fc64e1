"""Relay defaults; per-relay values (relay_id, tenant_id, relay_public_name) are host data in the inventory."""

import os

relay_enrolment_port = 8443
relay_wireguard_port = 51820
relay_wireguard_interface = "wg-guardian"
relay_tunnel_network = "10.77.0.0/24"
relay_uplink_port = 50051
relay_log_level = "INFO"
# Local paths (outside the repository) of the relay's certificate and key; unset: self-signed on the relay.
relay_tls_cert = None
relay_tls_key = None
# coturn, the TURN server of live view (#18): browsers reach it on the public name, edges through the tunnel.
relay_turn_port = 3478
relay_turn_min_port = 49160  # the allocations' UDP ports (on the tunnel address only)
relay_turn_max_port = 49999
# Metrics to the operator (#23, tasks/relay_metrics.py): the operator's Prometheus remote-write receiver
# (--web.enable-remote-write-receiver), e.g. "https://ops.example.net/prometheus/api/v1/write"; the CA
# file (local path) when its certificate is not publicly trusted.
relay_remote_write_url = None  # unset: no metrics forwarding is deployed
relay_remote_write_ca_file = None
relay_metrics_interval = "60s"
# The edges, over their tunnels (4G): see the figures in templates/prometheus-relay.yml.j2.
relay_edge_scrape_interval = "4m"
# Logs (#23, tasks/journal.py): where the relay uploads its own journal, the operator's systemd-journal-remote
# (HTTPS), e.g. "https://cloud.example.net:19532"; unset: the relay keeps its journal (it always receives its
# edges' journals on the tunnel address).
relay_journal_upload_url = os.environ.get("GUARDIAN_RELAY_JOURNAL_URL")
# Updates (#19, agents/relay/update_mirror.py): where releases are published (scripts/release-image.sh's
# DEST over HTTP(S)), e.g. "https://updates.example.net/"; the relay serves and caches them for its edges on
# its tunnel address (and for itself: its own /etc/hosts names its mirror). Unset: no mirror.
relay_updates_origin = os.environ.get("GUARDIAN_UPDATES_ORIGIN")
relay_updates_port = 8480  # the images' transfers (/usr/lib/sysupdate.d) name this port
