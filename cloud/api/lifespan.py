"""What runs beside the API for the process's life: the live-event bus and the retention loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from cloud.core.db import session_scope
from cloud.core.state import Cloud
from cloud.services.retention import cleanup
from guardian.runtime.logging import get_logger

log = get_logger("cloud.api")


def make_lifespan(cloud: Cloud) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
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

    return lifespan


async def _retention_loop(cloud: Cloud) -> None:
    while True:
        await asyncio.sleep(cloud.settings.retention_interval_seconds)
        try:
            deleted = await run_in_threadpool(_run_cleanup, cloud)
            for table, count in deleted.items():
                cloud.metrics.retention_deleted.labels(table).inc(count)
            log.info("retention_cleanup", **deleted)
        except Exception as exc:
            log.warning("retention_failed", error=type(exc).__name__)


def _run_cleanup(cloud: Cloud) -> dict[str, int]:
    with session_scope(cloud.sessions) as session:
        return cleanup(session, cloud.settings.auth.throttle_window_seconds)
