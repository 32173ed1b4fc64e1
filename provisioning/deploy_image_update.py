"""Update appliances that run this repo's images (relay VMs; flashed edges go through deploy_edge_update.py)
to the image version ``guardian_version``: systemd-sysupdate on the box, a reboot, and systemd-boot's boot
assessment, watched until the box has settled (tasks/image_update.py). Run it through provisioning/rollout.py
(``--group relays``), which stages it and reports per relay.

    python rollout.py inventories/production.py --group relays --version 0.2.0 [--canary 25] [--dry]
    pyinfra inventories/production.py deploy_image_update.py --limit relay-1 --data guardian_version=0.2.0
"""

from tasks import image_update

image_update.update()
