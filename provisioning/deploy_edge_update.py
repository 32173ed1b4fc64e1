"""Update the ``edges`` group (reached through their relay as SSH jump host) to the pinned release.
Run it through provisioning/rollout.py, which stages it (canary, waves) and reports per edge;
on its own it updates every selected edge at once.

    python rollout.py inventories/lab.py --version 0.2.0 [--canary 5] [--wave 25] [--dry]
    pyinfra inventories/lab.py deploy_edge_update.py --limit edge-1 --data guardian_version=0.2.0 --dry
"""

from pyinfra import host
from tasks import edge_update

if "edges" in host.groups:
    edge_update.update()
