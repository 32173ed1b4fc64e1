"""The detection service's Prometheus metrics (label sets per camera are made by the pipelines)."""

from __future__ import annotations

from guardian.runtime.metrics import AgentMetrics

FRAME_OUTCOMES = ("skipped_motion", "skipped_busy", "inferred_warmup", "inferred_motion", "inferred_tracking",
                  "inferred_periodic")
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0)


class DetectorMetrics:
    def __init__(self, metrics: AgentMetrics) -> None:
        m = metrics
        self.latency = m.histogram("detection", "inference_seconds", "Submit-to-result time of one inference.",
                                   ("model",), buckets=LATENCY_BUCKETS)
        self.detections = m.counter("detection", "detections_total", "Detections after filtering.", ("camera", "label"))
        self.frames = m.counter("detection", "frames_total", "Frames read, by what happened to them.", ("camera", "outcome"))
        self.events_opened = m.counter("events", "opened_total", "Events opened.", ("camera", "label"))
        self.events_closed = m.counter("events", "closed_total", "Events closed.", ("camera", "label"))
        self.events_open = m.gauge("events", "open", "Events open now.", ("camera",))
        self.in_flight = m.gauge("detection", "requests_in_flight", "Infer requests running.")
        self.result_queue = m.gauge("detection", "result_queue_depth", "Results waiting for the tracker.")
        self.reloads = m.counter("detection", "model_loads_total", "Model loads, by result.", ("result",))
        self.model_loaded = m.gauge("detection", "model_loaded", "1 while a model is loaded; 0 while waiting for one.")
        self.model = m.info("detection", "model", "The model in use.")
        # Info-style (1, the labels say it): which OpenVINO device was configured and which one runs.
        self.device = m.info("detection", "device", "The inference device: requested (configured) and device (in use).")
        self.decode_path = m.gauge("detection", "decode_path",
                                   "1 for the decoder a camera's detection stream goes through (software, qsv, vaapi), "
                                   "0 for the others.", ("camera", "path"))
        # One compiled model per size shown (the default's always, with 0 while no camera keeps to it).
        self.input_size_cameras = m.gauge("detection", "input_size_cameras",
                                          "Cameras detected at each network input size (side in pixels).", ("input_size",))
