"""The edge's link to its relay: enrolment, the WireGuard tunnel, the durable uplink, telemetry, media."""
