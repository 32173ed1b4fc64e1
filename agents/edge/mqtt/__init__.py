"""Home Assistant on the LAN: the edge publishes its events, per-camera occupancy and latest snapshots to
the site's MQTT broker, with Home Assistant MQTT discovery (issue #20). The broker is on the LAN and the
edge connects to it directly: nothing of it passes the relay or the cloud.

Floors: ``link`` (what the detection service holds: the applied config, the current publisher) →
``publisher`` (a thread, a bounded queue, the paho client) → ``messages`` (topics and payloads) →
``settings`` (the desired config's ``mqtt`` section, its password opened) and ``metrics``.
"""
