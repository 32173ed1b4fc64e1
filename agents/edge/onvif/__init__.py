"""Finding and checking cameras on the edge's LAN: ONVIF discovery and RTSP stream probes.

Modules by role:

- :mod:`.types`      what a search or a probe reports (plain dataclasses, JSON-ready), the error kinds
- :mod:`.wsd`        the WS-Discovery probe for ONVIF NetworkVideoTransmitters (multicast, with a timeout)
- :mod:`.device`     one found device's ONVIF Device and Media services: maker, model, firmware, profiles
- :mod:`.discovery`  both together: search, then ask every device at once; a device's failure is its own
- :mod:`.probe`      open an RTSP URL as the recorder does and report codec, size and rate, or why not
- :mod:`.cli`        ``guardian-edge cameras discover`` and ``guardian-edge cameras probe URL``

Nothing here writes to a log or prints a password: URLs in results are redacted, and errors carry a kind
and a reason built without the URL.
"""
