"""The FastAPI application: routers, error bodies, security headers, CORS, size limits, UI hook."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.api.routes import (
    archives,
    auth,
    cameras,
    devices,
    events,
    health,
    keys,
    relay_api,
    relays,
    tenants,
    users,
)
from cloud.core.config import CloudSettings
from cloud.core.db import session_scope
from cloud.core.errors import ApiError
from cloud.core.state import Cloud
from cloud.models import ErrorResponse
from guardian.runtime.logging import get_logger

log = get_logger("cloud.api")
access_log = get_logger("cloud.access")

ROUTERS = [auth.router, users.router, tenants.router, relays.router, devices.router, cameras.router,
           events.router, relay_api.router, keys.router, health.router, archives.router, archives.relay_router]

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
               422: "invalid_request", 429: "rate_limited", 500: "internal", 503: "unavailable"}


def error_body(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return JSONResponse({"error": jsonable_encoder(error)}, status_code=status, headers=headers)


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
# Swagger UI loads its assets from a CDN and runs an inline script.
_DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
             "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
             "frame-ancestors 'none'")


# What the API owns: an unknown path under these is a JSON 404, never the UI's index.html.
_API_EXACT = frozenset({"/api", "/docs", "/redoc", "/openapi.json", "/healthz", "/metrics"})
_API_PREFIXES = ("/api/", "/docs/", "/redoc/")


def is_api_path(path: str) -> bool:
    return path in _API_EXACT or path.startswith(_API_PREFIXES)


def _accepts_html(scope: Scope) -> bool:
    accept = Headers(scope=scope).get("accept", "")
    return any(part.split(";", 1)[0].strip().lower() == "text/html" for part in accept.split(","))


class UiFiles(StaticFiles):
    """The built UI, answering what no API route matched (the router's default, so 405s stay the API's).

    A file in the build is served as is; an unknown GET that accepts text/html is a client-side route
    (``/events/<id>``) and gets ``index.html`` with 200; everything else, and anything under the API's
    paths, is the API's JSON 404.
    """

    async def get_response(self, path: str, scope: Scope) -> Response:
        if is_api_path(scope["path"]):
            raise StarletteHTTPException(status_code=404)
        try:
            response = await super().get_response(path, scope)
        except StarletteHTTPException as exc:
            if exc.status_code != 404:
                raise
        else:
            if response.status_code != 404:  # not the build's 404.html: StaticFiles' html mode serves that
                return response
        if scope["method"] not in ("GET", "HEAD") or not _accepts_html(scope):
            raise StarletteHTTPException(status_code=404)
        index = Path(str(self.directory)) / "index.html"
        # The entry point names the hashed assets of the current build: always revalidate it.
        return FileResponse(index, media_type="text/html", headers={"Cache-Control": "no-cache"})


def find_ui_dir(settings: CloudSettings) -> Path | None:
    """The built web UI to serve at / (``http.ui_dir``, else ``ui/dist`` in the checkout) if it exists."""
    candidate = settings.http.ui_dir or Path(__file__).resolve().parents[2] / "ui" / "dist"
    return candidate if (candidate / "index.html").is_file() else None


def create_app(settings: CloudSettings, cloud: Cloud | None = None) -> FastAPI:
    cloud = cloud or Cloud.from_settings(settings)
    # OIDC is optional; the client is created once per process and caches discovery and keys.
    if settings.oidc.enabled and cloud.oidc is None:
        from cloud.core.oidc import OidcClient

        cloud.oidc = OidcClient(settings.oidc)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await cloud.bus.start()
        task = asyncio.create_task(_retention_loop(cloud), name="retention")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await cloud.bus.close()

    app = FastAPI(
        title="Guardian cloud",
        version="1",
        description="Control plane of Private AI Guardian: accounts, tenants, relays, event inventory, tokens. "
        "Errors are `{\"error\": {\"code\", \"message\", \"details\"?}}`.",
        lifespan=lifespan,
        responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
                   422: {"model": ErrorResponse}},
    )
    app.state.cloud = cloud
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_body(exc.status, exc.code, exc.message, getattr(exc, "details", None), exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_body(exc.status_code, _HTTP_CODES.get(exc.status_code, "error"), str(exc.detail),
                          headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]
        return error_body(422, "invalid_request", "request does not match the schema", details)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
        return error_body(500, "internal", "internal error")

    @app.middleware("http")
    async def _headers_and_metrics(request: Request, call_next):  # type: ignore[no-untyped-def]
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
            if path in ("/docs", "/redoc"):
                csp = _DOCS_CSP
            elif is_api_path(path):
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

    # Hook for the web UI (ui/dist when built): what no route matches, so unknown API paths and wrong
    # methods keep their JSON errors. Without a UI the default stays the JSON 404.
    ui_dir = find_ui_dir(settings)
    if ui_dir is not None:
        app.router.default = UiFiles(directory=ui_dir, html=True)
    return app


async def _retention_loop(cloud: Cloud) -> None:
    from cloud.retention import cleanup

    while True:
        await asyncio.sleep(cloud.settings.retention_interval_seconds)
        try:
            deleted = await run_in_threadpool(
                _run_cleanup, cloud, cleanup
            )
            for table, count in deleted.items():
                cloud.metrics.retention_deleted.labels(table).inc(count)
            log.info("retention_cleanup", **deleted)
        except Exception as exc:
            log.warning("retention_failed", error=type(exc).__name__)


def _run_cleanup(cloud: Cloud, cleanup):  # type: ignore[no-untyped-def]
    with session_scope(cloud.sessions) as session:
        return cleanup(session, cloud.settings.auth.login_window_seconds)
