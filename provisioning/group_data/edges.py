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
