"""The web UI's Content-Security-Policy: the UI's own origin, plus the origins media comes from.

The browser fetches clips, snapshots and thumbnails straight from the tenant's relay
(``{relay_url}/media/v1/events/{id}/…?token=…``): ``img-src``, ``media-src`` and ``connect-src`` (the
player probes with ``fetch``) must name the relays' origins, and nothing wider. The archive player
fetches ciphertext from the archive store (its origin in ``connect-src``) and plays the decrypted
``blob:``; a camera's latest picture is fetched (for its taken-at header) and shown as a ``blob:`` image. A policy is fixed when the page loads, before the UI knows whether its access cookie is still
valid, so it cannot depend on who is signed in: it lists the origins of every enabled relay, read from
the database and cached for :data:`TTL` seconds. A change made through this process (relay registered,
updated, disabled) takes effect on the next response; one made elsewhere (the CLI, another replica)
within the TTL. ``http.media_origins`` adds host-sources such as ``https://*.relays.example.org``; a
relay they already cover is not listed again, which keeps the header short with many relays.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker

from guardian.runtime.logging import get_logger

log = get_logger("cloud.csp")

TTL = 30.0
_HOST = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# 'wasm-unsafe-eval' lets the archive player compile its Argon2id WebAssembly (hash-wasm, served from
# 'self'); it allows no JavaScript eval. Without it Chromium refuses WebAssembly.compile under default-src.
_FIXED = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; frame-ancestors 'none'; base-uri 'none'; "
          "form-action 'self'; object-src 'none'")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, or None when it is not one (nothing else reaches the header)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if not _HOST.match(host):
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != _DEFAULT_PORTS[parts.scheme] else "")


def host_port(url: str) -> str | None:
    """``host:port`` of an http(s) URL with the port spelled out (what ``guardian-edge enrol --relay`` takes)."""
    origin = origin_of(url)
    if origin is None:
        return None
    scheme, rest = origin.split("://", 1)
    return rest if re.search(r":[0-9]+$", rest) else f"{rest}:{_DEFAULT_PORTS[scheme]}"


def covered(origin: str, sources: list[str]) -> bool:
    """Whether a configured host-source (``https://*.example.org``, ``https://x.example.org:8443``) allows ``origin``."""
    scheme, _, rest = origin.partition("://")
    host, _, port = rest.rpartition(":") if re.search(r":[0-9]+$", rest) else (rest, "", "")
    for source in sources:
        s_scheme, _, s_rest = source.lower().partition("://")
        s_host, _, s_port = s_rest.partition(":")
        if s_scheme != scheme or s_port not in ("*", port):
            continue
        if s_host == host or (s_host.startswith("*.") and host.endswith(s_host[1:])):
            return True
    return False


def build_policy(media: list[str], connect: list[str]) -> str:
    """The whole header value for the UI's documents."""
    def sources(*extra: str) -> str:
        return " ".join(["'self'", *extra])

    return "; ".join([
        _FIXED,
        f"img-src {sources('blob:', *media)}",
        f"media-src {sources('blob:', *media)}",
        f"connect-src {sources(*media, *connect)}",
    ])


class ContentSecurityPolicy:
    """The UI's policy with the relays' origins, cached; :meth:`invalidate` after changing a relay."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        relay_urls: Callable[[Session], Iterable[str]],
        media_origins: list[str],
        archive_url: str = "",
    ) -> None:
        self._sessions = sessions
        self._relay_urls = relay_urls  # a query of the domain (cloud.services.relays): core knows no tables
        self._configured = list(dict.fromkeys(media_origins))
        archive = origin_of(archive_url) if archive_url else None
        self._connect = [archive] if archive else []
        self._value = build_policy(self._configured, self._connect)
        self._expires = 0.0
        self._generation = 0

    def invalidate(self) -> None:
        self._generation += 1
        self._expires = 0.0

    def relay_origins(self) -> list[str]:
        with self._sessions() as session:
            origins = {o for o in (origin_of(u) for u in self._relay_urls(session)) if o is not None}
        return sorted(o for o in origins if not covered(o, self._configured))

    async def header(self) -> str:
        if time.monotonic() < self._expires:
            return self._value
        generation = self._generation
        try:
            relays = await anyio.to_thread.run_sync(self.relay_origins)
        except Exception as exc:
            log.warning("csp_refresh_failed", error=type(exc).__name__)
            return self._value
        self._value = build_policy([*self._configured, *relays], self._connect)
        if generation == self._generation:  # a change while reading: read again next time
            self._expires = time.monotonic() + TTL
        return self._value
