"""The push notifications' source and the process's :class:`~cloud.core.webpush.PushDispatcher`, fed by the
bus for the app's life (off while no VAPID key is set).

Claims and forgotten subscriptions are database work of the service pool (as the live fan-out's reads), so
browser load cannot hold notifications back, and the ingest request never waits for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from fastapi.concurrency import run_in_threadpool

from cloud.core.db import session_scope
from cloud.core.state import Cloud
from cloud.core.webpush import Delivery, PushDispatcher
from cloud.services import notifications


class PushFeed:
    """The dispatcher's :class:`~cloud.core.webpush.PushSource`."""

    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud
        self._max_age = timedelta(seconds=cloud.settings.push.event_max_age_seconds)

    async def claim(self, tenant_id: str, ids: list[str]) -> list[Delivery]:
        async with self._cloud.gates.service:
            return await run_in_threadpool(self._claim, tenant_id, ids)

    def _claim(self, tenant_id: str, ids: list[str]) -> list[Delivery]:
        with session_scope(self._cloud.service_sessions) as session:
            return notifications.claim(session, tenant_id, ids, self._max_age)

    async def gone(self, subscription_ids: list[str]) -> None:
        async with self._cloud.gates.service:
            await run_in_threadpool(self._gone, subscription_ids)

    def _gone(self, subscription_ids: list[str]) -> None:
        with session_scope(self._cloud.service_sessions) as session:
            notifications.forget(session, subscription_ids)


@dataclass
class PushService:
    dispatcher: PushDispatcher
    stop_listening: Callable[[], None]


async def start_push(cloud: Cloud) -> PushService | None:
    """The process's dispatcher, listening to the bus until :func:`stop_push`; None when push is off."""
    if not cloud.settings.push.enabled:
        return None
    dispatcher = PushDispatcher(PushFeed(cloud), cloud.settings.push,
                                on_result=lambda result: cloud.metrics.push_sends.labels(result).inc())
    await dispatcher.start()
    return PushService(dispatcher, cloud.bus.also_listen(dispatcher.notify))


async def stop_push(push: PushService | None) -> None:
    if push is not None:
        push.stop_listening()
        await push.dispatcher.close()
