"""The FastAPI application: routers, error handlers, middleware, lifespan and the UI, put together."""

from __future__ import annotations

from fastapi import FastAPI

from cloud.api.errors import add_error_handlers
from cloud.api.lifespan import make_lifespan
from cloud.api.middleware import add_middleware
from cloud.api.routes import (
    archives,
    auth,
    cameras,
    devices,
    edge_image,
    events,
    fleet,
    health,
    keys,
    live_sessions,
    notifications,
    relay_api,
    relays,
    review_items,
    reviews,
    tenants,
    users,
)
from cloud.api.schemas import ErrorResponse
from cloud.api.static import mount_ui
from cloud.core.config import CloudSettings
from cloud.core.state import Cloud
from cloud.services.relays import enabled_endpoint_urls

ROUTERS = [auth.router, users.router, tenants.router, relays.router, fleet.router, devices.router, edge_image.router, cameras.router,
           events.router, reviews.router, review_items.router, notifications.router, live_sessions.router, relay_api.router, keys.router, health.router, archives.router, archives.relay_router]


def create_app(settings: CloudSettings, cloud: Cloud | None = None) -> FastAPI:
    cloud = cloud or Cloud.from_settings(settings, relay_urls=enabled_endpoint_urls)
    # OIDC is optional; the client is created once per process and caches discovery and keys.
    if settings.oidc.enabled and cloud.oidc is None:
        from cloud.core.oidc import OidcClient

        cloud.oidc = OidcClient(settings.oidc)

    app = FastAPI(
        title="Guardian cloud",
        version="1",
        description="Control plane of Private AI Guardian: accounts, tenants, relays, event inventory, tokens. "
        "Errors are `{\"error\": {\"code\", \"message\", \"details\"?}}`.",
        lifespan=make_lifespan(cloud),
        # No Swagger UI or ReDoc on the session origin: FastAPI's pages load their script from a CDN, which
        # would run with the signed-in member's cookies. The reference is /openapi.json (JSON, no script),
        # or `python -m cloud.openapi FILE` offline, for any viewer away from this origin (cloud/README.md).
        docs_url=None,
        redoc_url=None,
        responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
                   422: {"model": ErrorResponse}},
    )
    app.state.cloud = cloud
    for router in ROUTERS:
        app.include_router(router)
    add_error_handlers(app)
    add_middleware(app, settings, cloud)
    mount_ui(app, settings)
    return app
