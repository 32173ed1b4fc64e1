"""Every error answers ``{"error": {"code", "message", "details"?}}``: the handlers that make it so."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud.core.capacity import Busy
from cloud.core.errors import ApiError
from guardian.runtime.logging import get_logger

log = get_logger("cloud.api")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
               422: "invalid_request", 429: "rate_limited", 500: "internal", 503: "unavailable"}


def error_body(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return JSONResponse({"error": jsonable_encoder(error)}, status_code=status, headers=headers)


async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
    return error_body(exc.status, exc.code, exc.message, getattr(exc, "details", None), exc.headers)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:
        # FastAPI's only 400: a body it cannot read (not UTF-8, unreadable form). Invalid JSON is already
        # a 422, so every body that does not fit the schema gets the one documented answer.
        return error_body(422, "invalid_request", "request does not match the schema",
                          [{"field": "body", "problem": str(exc.detail)}])
    return error_body(exc.status_code, _HTTP_CODES.get(exc.status_code, "error"), str(exc.detail),
                      headers=getattr(exc, "headers", None))


async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
    details = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]
    return error_body(422, "invalid_request", "request does not match the schema", details)


async def _pool_timeout(_request: Request, _exc: PoolTimeout) -> JSONResponse:
    # The admission gates keep requests from waiting for a connection; this is what is left (a pool shared
    # with work outside them): a quick 503 the client can retry, not a 500.
    log.warning("database_pool_timeout")
    busy = Busy()
    return error_body(busy.status, busy.code, busy.message, headers=busy.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
    return error_body(500, "internal", "internal error")


def add_error_handlers(app: FastAPI) -> None:
    app.exception_handler(ApiError)(_api_error)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(RequestValidationError)(_validation)
    app.exception_handler(PoolTimeout)(_pool_timeout)
    app.exception_handler(Exception)(_unexpected)
