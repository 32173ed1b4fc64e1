"""Who is calling: the IP address of a gRPC peer (inside a tunnel, that address is the identity)."""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote

import grpc


def peer_address(context: grpc.aio.ServicerContext) -> str | None:
    """The caller's IP from gRPC's ``ipv4:1.2.3.4:5`` / ``ipv6:%5B::1%5D:5`` peer string (None otherwise)."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    host = unquote(rest.rsplit(":", 1)[0]).strip("[]")  # gRPC writes IPv6 peers as ipv6:%5B::1%5D:5
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None
