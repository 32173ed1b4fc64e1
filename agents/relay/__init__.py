"""The tenant relay: enrolment, the WireGuard hub, the uplink receiver, the event cache and forwarding."""
