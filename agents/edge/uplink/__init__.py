"""The edge's link to its relay: enrolment, the WireGuard tunnel, the durable uplink, telemetry, media,
and camera access on request (EdgeCameras: pictures, ONVIF discovery, stream probes)."""
