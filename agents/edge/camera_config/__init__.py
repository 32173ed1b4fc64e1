"""The cameras' desired configuration as the edge keeps it (issue #17).

The cloud keeps each device's desired config as numbered versions; the uplink receives them from the relay
(:mod:`agents.edge.uplink.config_watch`) and this package validates and applies them: ``key`` (the edge's
X25519 config key, which opens the sealed camera credentials), ``validation`` (a version checked as a
whole and per camera), ``store`` (the atomic apply into the ``cameras`` and ``config_versions`` tables,
and the report of what is applied) and ``cameras`` (what the recorder and the detector read: the cameras
to run, their stream URLs with credentials inserted in memory only). Until a desired config is applied,
edge.toml's cameras are the ones run.
"""
