"""Wire contracts (protobuf) shared by edge, relay and cloud. Regenerate with `make contracts`."""
