"""Turn plain Debian hosts (the ``relays`` group) into Guardian relays.

    pyinfra inventories/lab.py deploy_relay.py [--dry]

Registers each relay with the inventory's cloud host (over SSH there), so do not ``--limit`` the cloud
host away when relays are new.
"""

from pyinfra import host
from pyinfra.api.exceptions import DeployError
from tasks import journal, relay, relay_metrics

if "relays" in host.groups:
    if not host.data.admin_networks:
        # The firewall drops SSH from everywhere else: without this the deploy would lock us out.
        raise DeployError("set admin_networks (GUARDIAN_ADMIN_NETWORKS): the networks SSH is allowed from")
    relay.packages()
    changed = relay.agent()
    changed += relay.secrets()
    changed += relay.turn_secret()
    relay_id = relay.register()  # on the cloud host of this inventory (tasks/relay.py)
    config = relay.service(changed, relay_id)
    if host.data.relay_remote_write_url:
        relay_metrics.relay_metrics(relay_id)  # #23: the relay and its edges scraped, sent to the operator
    relay.turn()  # after the relay: its allocations use the relay's tunnel address
    journal.relay_journal(config)  # #23: the edges' journals in (tunnel address), the relay's own to the operator
    relay.operator_ssh()  # #19: the jump host of its edges, a rollout wave at once
    relay.firewall()
