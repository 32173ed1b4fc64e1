"""What runs beside the API for the process's life: the live-event bus, push notifications and the retention loop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from types import FrameType
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from cloud.api.live import start_hub, stop_hub
from cloud.api.push import start_push, stop_push
from cloud.core.config_waits import ConfigWaits
from cloud.core.db import session_scope
from cloud.core.live import LiveHub
from cloud.core.state import Cloud
from cloud.services.retention import cleanup
from guardian.runtime.logging import get_logger

log = get_logger("cloud.api")

_SPARE_THREADS = 16


def make_lifespan(cloud: Cloud) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Every request admitted to the database must find a worker thread, whatever else uses threads
        # (static files, the CSP refresh): more threads than turns (cloud.core.capacity).
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, cloud.gates.capacity + _SPARE_THREADS)
        await cloud.bus.start()
        app.state.live = await start_hub(cloud)  # the live streams' fan-out (cloud.api.live.get_hub)
        app.state.push = await start_push(cloud)  # Web Push notifications (cloud.api.push), None when off
        app.state.config_waits = ConfigWaits()  # the relays' config long polls (cloud.api.routes.relay_api)
        cloud.bus.listen_configs(app.state.config_waits.changed)
        _end_streams_on_stop_signal(app.state.live, app.state.config_waits)
        task = asyncio.create_task(_retention_loop(cloud), name="retention")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await stop_push(app.state.push)
            cloud.bus.listen_configs(None)
            app.state.config_waits.stop()
            await stop_hub(cloud, app.state.live)
            await cloud.bus.close()

    return lifespan


def _end_streams_on_stop_signal(hub: LiveHub, config_waits: ConfigWaits) -> None:
    """On SIGTERM/SIGINT, end the live streams and the relays' config long polls, then let the server's own
    handler stop it.

    uvicorn stops by waiting for open responses to finish (up to cloud.server.GRACEFUL_SHUTDOWN_SECONDS, then
    it cancels them with a traceback); a live stream never finishes by itself. Ended at the signal, each
    browser reconnects to a worker or host still serving and resumes from its cursor. Only in the main thread,
    where the server's handlers are (not for an app served from a test's thread).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        server_handler = signal.getsignal(sig)

        def on_signal(signum: int, frame: FrameType | None, server_handler: Any = server_handler) -> None:
            loop.call_soon_threadsafe(hub.end_all, "server_stopping")
            loop.call_soon_threadsafe(config_waits.stop)
            if callable(server_handler):
                server_handler(signum, frame)

        signal.signal(sig, on_signal)


async def _retention_loop(cloud: Cloud) -> None:
    while True:
        await asyncio.sleep(cloud.settings.retention_interval_seconds)
        try:
            async with cloud.gates.service:
                deleted = await run_in_threadpool(_run_cleanup, cloud)
            for table, count in deleted.items():
                cloud.metrics.retention_deleted.labels(table).inc(count)
            log.info("retention_cleanup", **deleted)
        except Exception as exc:
            log.warning("retention_failed", error=type(exc).__name__)


def _run_cleanup(cloud: Cloud) -> dict[str, int]:
    with session_scope(cloud.service_sessions) as session:
        return cleanup(session, cloud.settings.auth.throttle_window_seconds)
