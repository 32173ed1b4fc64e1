"""The fleet rollout's parts (provisioning/rollout.py is the entry point): ``plan`` the stages, ``inventory``
the edges and their relays, ``wave`` one pyinfra run and each edge's outcome, ``report`` the report that is
also the rollout's state, ``events`` what pyinfra itself records during a run (loaded by pyinfra, not imported)."""
