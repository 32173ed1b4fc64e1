"""Update the ``edges`` group (reached through their relay as SSH jump host) to the pinned version.
Run it through provisioning/rollout.py, which stages it (canary, waves) and reports per edge;
on its own it updates every selected edge at once. An edge with host data ``guardian_install = "image"``
(a flashed appliance) takes the image version V (tasks/image_update.py); the others the release V
(tasks/edge_update.py).

    python rollout.py inventories/lab.py --version 0.2.0 [--canary 5] [--wave 25] [--dry]
    pyinfra inventories/lab.py deploy_edge_update.py --limit edge-1 --data guardian_version=0.2.0 --dry
"""

from pyinfra import host
from tasks import edge_update, image_update

if "edges" in host.groups:
    if host.data.get("guardian_install") == "image":
        image_update.update()
    else:
        edge_update.update()
