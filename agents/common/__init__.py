"""Code the edge and relay appliances share (and the cloud does not): WireGuard management."""
