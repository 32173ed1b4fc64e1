"""The local demo stack: the whole data path (camera → edge → relay → cloud → browser) on one machine.

``scripts/demo.sh`` (or ``python -m demo``) sets up, then starts every program as the real thing would run
them, each its own process: the fake camera with real footage, the cloud with the web UI (SQLite),
SeaweedFS as the archive store, a relay in ``tls`` mode (mutual TLS on loopback instead of WireGuard, with
a CA made for the demo), and the edge uplink, archive uploader, recorder and detector, enrolled with a
bootstrap token minted through the cloud's API by a demo tenant's admin, with an archive secret set.

- :mod:`demo.supervisor` starts processes, waits until each is ready (sd_notify ``READY=1`` on a socket
  of its own, a health URL, or a ready line), streams their logs with a prefix, restarts one that dies
  as its systemd unit would, stops them in reverse order;
- :mod:`demo.pki` makes the demo's CAs and the relay's certificate;
- :mod:`demo.stack` writes the configs and secrets into the state directory and brings the stack up;
- :mod:`demo.cli` is the command line (``python -m demo --help``).
"""
