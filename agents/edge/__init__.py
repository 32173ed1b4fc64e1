"""The edge appliance: cameras, recording, detection, events, and the uplink to the tenant's relay."""
