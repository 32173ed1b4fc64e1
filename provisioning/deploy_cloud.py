"""Deploy the cloud control plane on the ``cloud`` group.

    pyinfra inventories/lab.py deploy_cloud.py [--dry]
"""

from pyinfra import host
from tasks import cloud

if "cloud" in host.groups:
    cloud.packages()
    cloud.database()
    cloud.app()
    cloud.proxy()
    cloud.prometheus()
    cloud.backups()
    cloud.firewall()
