"""Deploy the cloud control plane on the ``cloud`` group.

    pyinfra inventories/lab.py deploy_cloud.py [--dry]
"""

from pyinfra import host
from tasks import cloud, journal

if "cloud" in host.groups:
    cloud.packages()
    cloud.database()
    cloud.app()
    cloud.proxy()
    cloud.prometheus()
    cloud.backups()
    journal.operator_journal(cloud.PROXY_TLS)  # #23: the relays' journals, with operator_journal_sources
    cloud.firewall()
