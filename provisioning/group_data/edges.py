"""Edge update defaults."""

import os

# The release's extra (the edge agents' dependencies); the lab uses "" (core only, small).
edge_release_extra = os.environ.get("GUARDIAN_EDGE_EXTRA", "edge")
# Units that must be active after a switch (and no unit may be failed).
edge_health_units = os.environ.get(
    "GUARDIAN_EDGE_HEALTH_UNITS",
    "guardian-edge-selftest.service guardian-edge-recorder.service guardian-edge-detector.service "
    "guardian-edge-uplink.service",
).split()
edge_health_timeout = int(os.environ.get("GUARDIAN_EDGE_HEALTH_TIMEOUT", "60"))
# Seconds a health verdict must hold before it counts (guardian-activate; see "settle" there).
edge_health_settle = int(os.environ.get("GUARDIAN_EDGE_HEALTH_SETTLE", "3"))
# "Heartbeats arriving": after the switch, the edge's relay (host data ``edge_relay``, the SSH jump host)
# must see a heartbeat from the edge (host data ``edge_device_id``) newer than the switch, within this
# many seconds; 0 turns the check off. The command runs on the relay and prints
# ``guardian-relay device list --json``: [{"device_id": …, "last_seen": ISO 8601 | null, …}, …].
edge_heartbeat_timeout = int(os.environ.get("GUARDIAN_EDGE_HEARTBEAT_TIMEOUT", "120"))
edge_heartbeat_command = os.environ.get("GUARDIAN_EDGE_HEARTBEAT_COMMAND", "guardian-relay device list --json")
# How an edge is updated: "release" (a Debian host: a release tar installed beside the current one,
# tasks/edge_update.py) or "image" (a flashed appliance image: systemd-sysupdate + reboot + boot assessment,
# tasks/image_update.py). Set per host in the inventory, or for all with GUARDIAN_EDGE_INSTALL.
guardian_install = os.environ.get("GUARDIAN_EDGE_INSTALL", "release")
