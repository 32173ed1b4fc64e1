"""Turn plain Debian hosts (the ``relays`` group) into Guardian relays.

    pyinfra inventories/lab.py deploy_relay.py --limit relays [--dry]
"""

from pyinfra import host
from pyinfra.api.exceptions import DeployError

from tasks import relay

if "relays" in host.groups:
    if not host.data.admin_networks:
        # The firewall drops SSH from everywhere else: without this the deploy would lock us out.
        raise DeployError("set admin_networks (GUARDIAN_ADMIN_NETWORKS): the networks SSH is allowed from")
    relay.packages()
    changed = relay.agent()
    changed += relay.secrets()
    relay.service(changed)
    relay.firewall()
