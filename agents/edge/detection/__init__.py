"""Object detection on the edge: the OpenVINO detector, motion gating, and the detector service."""
