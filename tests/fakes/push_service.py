"""A local RFC 8030 push service: a real HTTP server that takes the cloud's push POSTs the way a browser
vendor's would, checks the VAPID JWT (RFC 8292) and decrypts the aes128gcm payload (RFC 8291) with the
subscription's private keys, which the test made itself (:class:`Browser`).

Each subscription is a path ``/push/<token>``; :meth:`PushService.answer` scripts its next answers (410,
503, …; 201 Created once the script is used up). What arrived is kept per token as :class:`Received`.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A browser's side of one subscription: its P-256 key pair and auth secret (RFC 8291 §3)."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def token(self) -> str:
        return self.endpoint.rsplit("/", 1)[1]

    def subscription(self) -> dict[str, Any]:
        """``PushSubscription.toJSON()`` as a browser sends it."""
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)}}


@dataclass
class Received:
    token: str
    payload: dict[str, Any]  # the decrypted JSON
    ttl: int
    vapid_claims: dict[str, Any]
    vapid_key: str  # the sender's public key (``k``)
    at: float  # time.monotonic() when it arrived


class PushService:
    def __init__(self) -> None:
        self.url = ""
        self._browsers: dict[str, Browser] = {}
        self._script: dict[str, list[int]] = {}
        self.received: queue.Queue[Received] = queue.Queue()
        self.refused: queue.Queue[str] = queue.Queue()  # why a POST was refused (bad JWT, undecryptable)
        self.posts: dict[str, int] = {}  # POSTs per token, answered or not
        self._lock = threading.Lock()
        self._held: threading.Event | None = None

    def browser(self) -> Browser:
        browser = Browser(f"{self.url}/push/{b64url(os.urandom(12))}")
        self._browsers[browser.token] = browser
        return browser

    def answer(self, browser: Browser, *statuses: int) -> None:
        """The next POSTs for ``browser`` get these statuses (without delivering), then 201 again."""
        self._script[browser.token] = list(statuses)

    def hold(self) -> threading.Event:
        """Every POST waits, unanswered, until the returned event is set (a push service that hangs)."""
        self._held = threading.Event()
        return self._held

    def next(self, timeout: float = 10) -> Received:
        return self.received.get(timeout=timeout)

    def _handle(self, token: str, headers: Any, body: bytes) -> int:
        if self._held is not None:
            self._held.wait(timeout=60)
        with self._lock:
            self.posts[token] = self.posts.get(token, 0) + 1
            script = self._script.get(token)
            if script:
                return script.pop(0)
        browser = self._browsers.get(token)
        if browser is None:
            return 404
        try:
            claims, key = self._vapid(headers.get("Authorization", ""))
            if headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError("not aes128gcm")
            plain = http_ece.decrypt(body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm")
            payload = json.loads(plain)
        except Exception as exc:
            self.refused.put(f"{type(exc).__name__}: {exc}")
            return 400 if not isinstance(exc, jwt.PyJWTError) else 401
        self.received.put(Received(token, payload, int(headers.get("TTL", "-1")), claims, key, time.monotonic()))
        return 201

    def _vapid(self, authorization: str) -> tuple[dict[str, Any], str]:
        """RFC 8292 §3: ``vapid t=<JWT>, k=<P-256 public key>``; the JWT is ES256 over that key, for our origin."""
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise jwt.InvalidTokenError("not a vapid authorization")
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(fields["k"]))
        claims = jwt.decode(fields["t"], public, algorithms=["ES256"], audience=self.url,
                            options={"require": ["aud", "exp", "sub"]})
        if claims["exp"] > time.time() + 24 * 3600:
            raise jwt.InvalidTokenError("exp more than 24 h ahead")
        return claims, fields["k"]


@contextmanager
def push_service() -> Iterator[PushService]:
    service = PushService()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            token = self.path.rsplit("/", 1)[-1] if self.path.startswith("/push/") else ""
            status = service._handle(token, self.headers, body)
            self.send_response(status)
            if status == 201:
                self.send_header("Location", f"{service.url}/message/{b64url(os.urandom(8))}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
