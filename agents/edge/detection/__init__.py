"""Object detection on the edge (``guardian-edge detector run``).

Modules by role:

- :mod:`.service`     the detection service: wiring, the event thread, the service runner's agent
- :mod:`.pipeline`    one camera: frames → motion gate → detector → tracker → events
- :mod:`.model_slot`  the model in use and its hot swap
- :mod:`.detector`    the OpenVINO detector (:mod:`.graph_post`: decoding and NMS as graph operations)
- :mod:`.motion`      motion gating
- :mod:`.eval_command`  ``guardian-edge models eval``: the detector on a labelled set
- :mod:`.picture`     each camera's latest picture (``<data_dir>/pictures/<camera>.jpg``, every 2 s)
- :mod:`.metrics`, :mod:`.types`, :mod:`.config`  its metrics, result type and config sections
"""
