"""The lab: throw-away targets (tests/provisioning/targets.py boots them with systemd-nspawn).

The hosts come from the JSON file named by ``GUARDIAN_LAB`` (written by the lab), for example::

    {"ssh_config": "/tmp/lab/ssh_config",
     "relays": [["relay-1", {"relay_id": "…", "tenant_id": "…", "relay_public_name": "relay-1.lab"}]],
     "cloud":  [["cloud-1", {"cloud_public_name": "cloud-1.lab"}]],
     "edges":  [["edge-1", {"edge_relay": "relay-1"}], ["edge-2", {"edge_relay": "relay-1"}]]}

Host names are aliases in that ssh_config (HostName, User, IdentityFile, and ``ProxyJump relay-1`` for
edges, which are reachable only through their relay). Without ``GUARDIAN_LAB`` the inventory lists
example hosts that resolve nowhere: ``debug-inventory`` works with them, a deploy does not, not even with
``--dry`` (pyinfra reads facts from each host to make its plan, so every host is dropped as unreachable
and it stops with "No hosts remaining"). For a plan without real machines, run it against the lab's
targets (tests/provisioning/targets.py), as tests/provisioning does.
"""

import json
import os

if os.environ.get("GUARDIAN_LAB"):
    with open(os.environ["GUARDIAN_LAB"]) as _f:
        _lab = json.load(_f)
else:
    _lab = {
        "ssh_config": "",
        "relays": [["relay-1.lab.invalid", {"relay_id": "relay-1", "tenant_id": "tenant-lab",
                                            "relay_public_name": "relay-1.lab.invalid"}]],
        "cloud": [["cloud-1.lab.invalid", {"cloud_public_name": "cloud-1.lab.invalid"}]],
        "edges": [["edge-1.lab.invalid", {"edge_relay": "relay-1.lab.invalid"}],
                  ["edge-2.lab.invalid", {"edge_relay": "relay-1.lab.invalid"}]],
    }


def _hosts(group):
    return [(name, {"ssh_config_file": _lab["ssh_config"], **data}) if _lab["ssh_config"] else (name, data)
            for name, data in _lab.get(group, [])]


relays = _hosts("relays")
cloud = _hosts("cloud")
edges = _hosts("edges")
