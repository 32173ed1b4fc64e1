"""The relay's one way to the edge agents' metrics: ``/metrics/<agent>`` on the tunnel address.

Each edge agent serves ``/metrics`` on its own loopback port (units/guardian-edge-*.service); nothing
of it listens on the LAN. The uplink, which owns the tunnel, serves one endpoint per agent on its
tunnel address only (``[uplink.scrape_proxy]``, port 9460) and fetches the agent's loopback exporter on
each request, with a bounded time-out. An agent that does not answer gives a 503, so the relay's
Prometheus records ``up == 0`` for that agent alone (honest ``up``); when the uplink or the tunnel is
gone, every endpoint of the edge is down. Only the relay's tunnel address is answered: a listener on
the tunnel is not reachable from the LAN, and other peers of the relay's network get a 403.

Every byte crosses a metered 4G link, so the proxy passes only the series the operator's rules and
dashboard read (``kept_series``, :func:`keep_series`): it asks the agent for the text format, drops the
other samples and the HELP lines, and gzips what is left when the relay asks for it (Prometheus does),
without the Server and Date headers. The relay's connection is kept open between scrapes (HTTP/1.1,
``idle_timeout_s``), which spares a TCP handshake and teardown per agent and scrape. ``filter = false`` passes the agent's answer as sent
(bench/fleet_tunnel_bytes.py compares both).

Camera names are the tenant's: filtered, every ``camera`` label value leaves as an opaque id, keyed by a
secret that stays on the edge (:mod:`agents.edge.uplink.camera_ids`; ``guardian-edge metrics camera-ids``
maps them on the box). ``filter = false`` is for debugging and passes the names too.

The listening socket sets ``IP_FREEBIND``, so the bind does not depend on the tunnel address being
on the interface yet (an uplink restarting while the kernel reconfigures the interface), without the
system-wide ``net.ipv4.ip_nonlocal_bind``.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from agents.edge.uplink.camera_ids import pseudonymise_cameras
from agents.edge.uplink.config import ScrapeProxySettings
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.uplink.scrape_proxy")

IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)  # linux/in.h; Python exposes it only on some builds
# Unfiltered, what Prometheus negotiates (text or protobuf format, gzip) goes through as is.
FORWARDED_REQUEST_HEADERS = ("Accept", "Accept-Encoding")
FORWARDED_RESPONSE_HEADERS = ("Content-Type", "Content-Encoding")
# Filtered, the proxy reads and writes the classic text format, which every exporter here serves.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
# A histogram's series (name_bucket, _sum, _count) belong to the family its TYPE line names without the
# suffix; a counter's TYPE line names the _total series itself (text format 0.0.4).
_FAMILY_SUFFIXES = ("_bucket", "_sum", "_count")


def keep_series(text: str, kept: frozenset[str]) -> str:
    """The exposition ``text`` (text format 0.0.4) with the samples of the ``kept`` series names only, and
    the TYPE lines of their families; HELP lines are dropped (nothing on the operator's side reads them)."""
    families = kept | {name.removesuffix(suffix) for name in kept for suffix in _FAMILY_SUFFIXES}
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            words = line.split(" ", 3)
            if len(words) > 2 and words[1] == "TYPE" and words[2] in families:
                lines.append(line)
        elif line and line.partition("{")[0].partition(" ")[0] in kept:
            lines.append(line)
    return "".join(f"{line}\n" for line in lines)


class _FreebindServer(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        super().server_bind()


class ScrapeProxy:
    """``GET /metrics/<agent>`` on ``address:port``, answered from the agent's loopback exporter."""

    def __init__(self, settings: ScrapeProxySettings, address: str, allowed_peer: str, camera_key: bytes) -> None:
        self.settings = settings
        self.kept = frozenset(settings.kept_series)
        self.camera_key = camera_key  # the camera_ids secret (load_or_create_key)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive: the relay's next scrape reuses the connection; an idle one is closed after the time-out.
            protocol_version = "HTTP/1.1" if settings.idle_timeout_s > 0 else "HTTP/1.0"
            timeout = settings.idle_timeout_s or None

            def do_GET(self) -> None:
                proxy._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # failures are logged by _answer, with the agent they concern

        self.allowed_peer = allowed_peer
        self._server = _FreebindServer((address, settings.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="scrape-proxy", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("scrape_proxy_started", port=self.port, agents=sorted(self.settings.targets))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        if request.client_address[0] != self.allowed_peer:
            request.send_error(403)
            return
        prefix, _, agent = request.path.partition("?")[0].rpartition("/")
        target = self.settings.targets.get(agent) if prefix == "/metrics" else None
        if target is None:
            request.send_error(404)
            return
        try:
            status, headers, body = self._fetch(target, request)
        except (OSError, http.client.HTTPException) as exc:  # refused, timed out, cut: the agent is down
            log.warning("scrape_proxy_agent_unreachable", agent=agent, error=str(exc))
            request.send_error(503)
            return
        if status != 200:
            log.warning("scrape_proxy_agent_failed", agent=agent, status=status)
            request.send_error(503)
            return
        if self.settings.filter:
            body = pseudonymise_cameras(keep_series(body.decode(), self.kept), self.camera_key).encode()
            headers = [("Content-Type", TEXT_FORMAT)]
            if "gzip" in request.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body, mtime=0)
                headers.append(("Content-Encoding", "gzip"))
            request.send_response_only(200)  # without Server and Date: nobody reads them, the 4G link pays them
        else:
            request.send_response(200)
        for name, value in headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _fetch(self, url: str, request: BaseHTTPRequestHandler) -> tuple[int, list[tuple[str, str]], bytes]:
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port or 80, timeout=self.settings.timeout_s
        )
        try:
            if self.settings.filter:  # plain text to filter (loopback: no gzip between agent and proxy)
                forwarded = {"Accept": TEXT_FORMAT, "Accept-Encoding": "identity"}
            else:
                forwarded = {n: v for n in FORWARDED_REQUEST_HEADERS if (v := request.headers.get(n)) is not None}
            connection.request("GET", parts.path or "/", headers=forwarded)
            response = connection.getresponse()
            body = response.read()  # bytes as sent (gzipped when unfiltered and asked: the relay decodes them)
            headers = [(n, v) for n in FORWARDED_RESPONSE_HEADERS if (v := response.getheader(n)) is not None]
            return response.status, headers, body
        finally:
            connection.close()
