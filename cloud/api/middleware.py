"""Middleware: security headers and Content-Security-Policy, metrics and the access log, CORS, body limits,
control characters in paths, the methods a path allows (405 and OPTIONS)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
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


def add_middleware(app: FastAPI, settings: CloudSettings, cloud: Cloud) -> None:
    app.add_middleware(ControlCharacters)  # first added, innermost: its answers get the headers below too
    app.add_middleware(AllowedMethods, routes=app.router.routes)

    @app.middleware("http")
    async def _headers_and_metrics(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - started
        cloud.metrics.requests.labels(name, f"{response.status_code // 100}xx").inc()
        cloud.metrics.latency.labels(name).observe(elapsed)
        # Our access log: the route template, never the raw path or query (ids, codes, states).
        access_log.info("request", method=request.method, route=name, status=response.status_code,
                        ms=round(elapsed * 1000, 1))
        for key, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        path = request.url.path
        if "content-security-policy" not in response.headers:
            if is_api_path(path):
                csp = _CSP
            else:  # the UI: its own origin plus the relays' (media) and the archive store's
                csp = await cloud.csp.header()
            response.headers["Content-Security-Policy"] = csp
        if path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

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
