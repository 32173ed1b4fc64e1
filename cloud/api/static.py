"""The built web UI at ``/``: what no API route matches, so the API's paths keep their JSON errors."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from cloud.core.config import CloudSettings

# What the API owns: an unknown path under these is a JSON 404, never the UI's index.html. (/docs and
# /redoc are not served, cloud/api/main.py, and stay a JSON 404 rather than the UI.)
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


def mount_ui(app: FastAPI, settings: CloudSettings) -> None:
    """Serve the UI (when built) as the router's default; without one the default stays the JSON 404."""
    ui_dir = find_ui_dir(settings)
    if ui_dir is not None:
        app.router.default = UiFiles(directory=ui_dir, html=True)
