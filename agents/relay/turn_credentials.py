"""Time-limited TURN credentials for the relay's coturn (the TURN REST API shared-secret scheme).

coturn runs with ``use-auth-secret`` and a ``static-auth-secret`` it shares with the relay; it keeps no
users. The relay mints, per live session, ``username = "<expiry unix time>:<session tag>"`` and
``credential = base64(HMAC-SHA1(secret, username))``; coturn recomputes the HMAC and refuses the name
once its expiry has passed. So a credential handed to a browser or an edge is good for one session's
lifetime and nothing else, and nothing has to be stored or revoked (draft-uberti-behave-turn-rest-00).

:func:`peer_range` gives coturn's ``allowed-peer-ip`` range for the tunnel network: relayed packets may
only go to addresses in it (the relay's own allocations), never out to the internet.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import time
from dataclasses import dataclass

from agents.relay.errors import RelayError

# A tag names the session in coturn's logs; the ':' separates it from the expiry, so it is refused.
_SESSION_TAG = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class TurnCredentialError(RelayError):
    """A credential cannot be minted as asked (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class TurnCredentials:
    """What a WebRTC peer puts in its ``RTCIceServer``: ``username`` and ``credential``, valid until
    ``expires_at`` (unix seconds)."""

    username: str
    credential: str
    expires_at: int


def mint_turn_credentials(secret: bytes, session_tag: str, ttl_s: int, now: float | None = None) -> TurnCredentials:
    """Credentials for ``session_tag`` that coturn accepts for ``ttl_s`` seconds from ``now``."""
    if not secret:
        raise TurnCredentialError("the TURN shared secret is empty")
    if not _SESSION_TAG.match(session_tag):
        raise TurnCredentialError("a session tag is 1-64 characters of letters, digits, '.', '_' or '-'")
    if ttl_s <= 0:
        raise TurnCredentialError("the lifetime must be positive")
    expires_at = int(time.time() if now is None else now) + ttl_s
    username = f"{expires_at}:{session_tag}"
    digest = hmac.new(secret, username.encode("ascii"), hashlib.sha1).digest()  # SHA-1: what coturn checks
    return TurnCredentials(username, base64.b64encode(digest).decode("ascii"), expires_at)


def peer_range(network: str) -> str:
    """``first-last`` address of ``network`` (CIDR), the form coturn's ``allowed-peer-ip`` takes."""
    net = ipaddress.ip_network(network, strict=False)
    return f"{net.network_address}-{net.broadcast_address}"
