"""Middleware: security headers and Content-Security-Policy, metrics and the access log, CORS, body limits,
control characters in paths, the methods a path allows (405 and OPTIONS)."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.api.errors import error_body
from cloud.api.params import CONTROL_CHARACTERS
from cloud.api.static import is_api_path
from cloud.core.config import CloudSettings
from cloud.core.state import Cloud
from guardian.runtime.logging import get_logger

access_log = get_logger("cloud.access")


class BodyLimit:
    """413 for bodies over the limit, by Content-Length or while streaming (chunked uploads)."""

    def __init__(self, app: ASGIApp, default: int, ingest: int) -> None:
        self.app, self.default, self.ingest = app, default, ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.ingest if scope["path"] == "/api/v1/ingest" else self.default
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await error_body(413, "too_large", f"request body over {limit} bytes")(scope, receive, send)
            return
        seen = 0
        state = {"started": False, "refused": False}

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return  # we already answered 413; drop whatever the app still sends
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        async def limited() -> Message:
            nonlocal seen
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    if not state["started"]:
                        await error_body(413, "too_large", f"request body over {limit} bytes")(scope, receive, send)
                    state["refused"] = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, limited, guarded_send)


class ControlCharacters:
    """422 for a URL path holding a control character (``%00`` …) before any route sees it.

    Path and query parameters are typed with :data:`cloud.api.params.Text`, which refuses them with the
    same answer; this covers every route and the static files alike (a NUL reaching PostgreSQL or the
    file system is a 500 otherwise).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and CONTROL_CHARACTERS.search(scope["path"]):
            details = [{"field": "path", "problem": "must not contain control characters (such as NUL, tab or a line break)"}]
            await error_body(422, "invalid_request", "request does not match the schema", details)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class AllowedMethods:
    """A known path with a method it does not have: 405 whose ``Allow`` names every method of the path;
    ``OPTIONS``: 204 with the same ``Allow`` (RFC 9110 §9.3.7, §15.5.6).

    Starlette's router answers such a request from the first route of the path alone (``OPTIONS
    /api/v1/tenant`` said ``Allow: GET``, hiding ``PATCH``) and knows no ``OPTIONS``. CORS preflights
    never reach this: ``CORSMiddleware``, outside it, answers them.
    """

    _CANDIDATES = ("DELETE", "GET", "PATCH", "POST", "PUT")

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app, self.routes = app, routes  # the router's own list: read per request, routes added later count

    def _allow(self, scope: Scope) -> str | None:
        """The ``Allow`` of the request's path, or None for a path no route has."""
        methods = {method for method in self._CANDIDATES
                   if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in self.routes)}
        return ", ".join(sorted(methods | {"OPTIONS"})) if methods else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            allow = self._allow(scope)
            if allow is not None:
                await Response(status_code=204, headers={"Allow": allow})(scope, receive, send)
                return

        async def send_with_allow(message: Message) -> None:
            # Only a 405 pays for the look-up; every other answer passes untouched.
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = self._allow(scope)
                if allow is not None:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                    message = {**message, "headers": [*headers, (b"allow", allow.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_allow)


_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# API answers. The UI's pages get cloud.csp's, which also names the relays' origins (media): cloud/core/csp.py.
_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
# The same, as the raw (lower-case name, value) pairs an ASGI message carries: encoded once, not per request.
_SECURITY_RAW = [(name.lower().encode(), value.encode()) for name, value in _SECURITY_HEADERS.items()]
_CSP_NAME, _CSP_RAW = b"content-security-policy", _CSP.encode()
_CACHE_CONTROL, _NO_STORE = b"cache-control", b"no-store"


class HeadersAndMetrics:
    """Security headers, Content-Security-Policy and ``Cache-Control: no-store`` (API) on every answer, each
    unless the answer set its own; the request counters and latency; the access log line.

    Pure ASGI: it only rewrites the ``http.response.start`` message. (It was ``@app.middleware("http")``,
    whose task group and memory streams per request cost more CPU than the rest of the middleware.)
    Latency and log are taken when the answer starts, so a live stream is logged when it opens.
    """

    def __init__(self, app: ASGIApp, cloud: Cloud) -> None:
        self.app, self.cloud = app, cloud

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = await self._answer_started(scope, path, started, message)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _answer_started(self, scope: Scope, path: str, started: float, message: Message) -> Message:
        status: int = message["status"]
        route = getattr(scope.get("route"), "path", "unmatched")  # the router's match, set in this scope
        elapsed = time.perf_counter() - started
        metrics = self.cloud.metrics
        metrics.requests.labels(route, f"{status // 100}xx").inc()
        metrics.latency.labels(route).observe(elapsed)
        # Our access log: the route template, never the raw path or query (ids, codes, states).
        access_log.info("request", method=scope["method"], route=route, status=status, ms=round(elapsed * 1000, 1))
        headers = list(message.get("headers", ()))
        present = {name.lower() for name, _ in headers}
        headers += [pair for pair in _SECURITY_RAW if pair[0] not in present]
        if _CSP_NAME not in present:
            # The UI: its own origin plus the relays' (media) and the archive store's.
            csp = _CSP_RAW if is_api_path(path) else (await self.cloud.csp.header()).encode()
            headers.append((_CSP_NAME, csp))
        if path.startswith("/api/") and _CACHE_CONTROL not in present:
            headers.append((_CACHE_CONTROL, _NO_STORE))
        return {**message, "headers": headers}


def add_middleware(app: FastAPI, settings: CloudSettings, cloud: Cloud) -> None:
    app.add_middleware(ControlCharacters)  # first added, innermost: its answers get the headers below too
    app.add_middleware(AllowedMethods, routes=app.router.routes)
    app.add_middleware(HeadersAndMetrics, cloud=cloud)

    if settings.http.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.http.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(BodyLimit, default=settings.http.max_body_bytes, ingest=settings.http.max_ingest_bytes)
