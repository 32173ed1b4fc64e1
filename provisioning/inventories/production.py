"""Production (example): replace the names with yours. Per-host values that are not secret live
here; secrets never do (see README.md, "Variables": environment variables and files outside the repo).

SSH: the operator's ~/.ssh/config (or ``GUARDIAN_SSH_CONFIG``) names every host; edges are reached
through their relay inside the WireGuard tunnel, e.g.::

    Host edge-*.acme
        ProxyJump relay-acme.example.net
    Host edge-1.acme
        HostName 10.77.0.2
"""

import os

_ssh = {"ssh_config_file": os.environ["GUARDIAN_SSH_CONFIG"]} if os.environ.get("GUARDIAN_SSH_CONFIG") else {}

relays = [
    ("relay-acme.example.net", {**_ssh, "relay_id": "rly_0001", "tenant_id": "ten_acme",
                                "relay_public_name": "relay-acme.example.net"}),
]

cloud = [
    ("cloud.example.net", {**_ssh, "cloud_public_name": "cloud.example.net"}),
]

edges = [
    ("edge-1.acme", {**_ssh, "edge_relay": "relay-acme.example.net"}),
    ("edge-2.acme", {**_ssh, "edge_relay": "relay-acme.example.net"}),
    ("edge-3.acme", {**_ssh, "edge_relay": "relay-acme.example.net"}),
]
